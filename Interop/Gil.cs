using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Bridge.Interop.Native;

namespace Bridge.Interop;

/*
 * Design notes
 *
 * CPython's GIL belongs to a thread state (PyThreadState), one per OS thread. .NET uses threads freely,
 * so every CPython call sits inside `using (Gil.Acquire())`. Each acquisition decides how to take the
 * GIL and records in its GilLock how to undo exactly that:
 *
 * - Fast path (a .NET thread that already has its cached thread state and does not hold the GIL):
 *   PyEval_RestoreThread, undone by PyEval_SaveThread (about 0.09 us for the pair). The first
 *   acquisition on a fresh .NET thread calls PyGILState_Ensure, which creates its thread state; the
 *   release is PyEval_SaveThread and the state is kept in a [ThreadStatic] for later Restores.
 *   (Ensure/Release per call would create and destroy a thread state each time: 7-8.5 us here.) The
 *   cost: one small PyThreadState per .NET thread that ever touched Python, kept until process exit.
 * - The thread already holds the GIL (checked by comparing the "current thread state" with this
 *   thread's own, not with PyGILState_Check, which sub-interpreters switch off): nested use, nothing to undo. This covers
 *   re-entrant Acquire and Python calling into .NET with the GIL held (ctypes.PYFUNCTYPE, C extensions).
 * - The thread has a Python-owned thread state but does not hold the GIL (a Python thread that called
 *   into .NET through ctypes.CFUNCTYPE, which releases the GIL; or Python released it beneath our own
 *   outer acquisition): PyGILState_Ensure/PyGILState_Release, so Python gets its state back as it left it.
 * - Finalizers never take the GIL: PyObject's finalizer queues its pointer here, and the next release
 *   on any thread that actually gives up (or hands back) the GIL drains the queue with Py_DecRef first.
 * - Never await while holding the GIL: GilLock is a ref struct, so the compiler refuses to keep it
 *   across an await; a debug build also checks that it is released on the thread that took it.
 *   Long blocking .NET work inside a `using (Gil.Acquire())` block stalls every other Python thread.
 */

/// <summary>Takes CPython's global interpreter lock for the current .NET thread.</summary>
/// <remarks>Thread-safe: each thread acquires for itself; acquisitions nest on one thread.</remarks>
public static class Gil
{
    internal const int ModeNested = 0;
    internal const int ModeSaveThread = 1;
    internal const int ModeGilState = 2;

    [ThreadStatic] private static nint t_savedState;
    [ThreadStatic] private static int t_depth;

    private static readonly ConcurrentQueue<nint> s_pendingDecrefs = new();
    private static int s_pendingCount;

    /// <summary>Takes the GIL (re-entrant). Dispose the result exactly once, on the same thread, with no await in between.</summary>
    /// <example><code>using (Gil.Acquire()) { ... }</code></example>
    /// <exception cref="InvalidOperationException">Python is not initialized (<see cref="PythonRuntime.Initialize"/>).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe GilLock Acquire()
    {
        nint state = t_savedState;
        if (state != 0 && t_depth == 0 && CPython.CurrentThreadState() != state)
        {
            CPython.PyEval_RestoreThread(state);
            t_depth = 1;
            return new GilLock(ModeSaveThread, 0);
        }
        return AcquireSlow();
    }

    /// <summary>True when the current thread holds the GIL through <see cref="Acquire"/>.</summary>
    public static bool IsHeld => t_depth > 0;

    private static unsafe GilLock AcquireSlow()
    {
        if (!PythonRuntime.IsInitialized)
        {
            throw new InvalidOperationException("Python is not initialized: call PythonRuntime.Initialize() first.");
        }
        // "Current thread state" is process-wide in 3.11 (the GIL holder's) and thread-local from 3.12:
        // comparing it with this thread's own state answers "does this thread hold the GIL" in both.
        nint mine = t_savedState != 0 ? t_savedState : CPython.PyGILState_GetThisThreadState();
        if (mine != 0 && CPython.CurrentThreadState() == mine)
        {
            t_depth++;
            return new GilLock(ModeNested, 0);
        }
        if (mine == 0)
        {
            // A .NET thread Python has never seen: Ensure creates its thread state, which we keep.
            CPython.PyGILState_Ensure();
            t_depth++;
            return new GilLock(ModeSaveThread, 0);
        }
        // A thread state exists (Python's own thread, or ours released beneath us by Python): borrow it.
        int gilState = CPython.PyGILState_Ensure();
        t_depth++;
        return new GilLock(ModeGilState, gilState);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Release(int mode, int gilState)
    {
        t_depth--;
        if (mode == ModeNested) return;
        if (Volatile.Read(ref s_pendingCount) != 0) DrainPendingDecrefs();
        if (mode == ModeSaveThread) t_savedState = CPython.PyEval_SaveThread();
        else CPython.PyGILState_Release(gilState);
    }

    /// <summary>Called once by the runtime on the thread that ran Py_InitializeEx (which holds the GIL).</summary>
    internal static void AdoptInitializingThread() => t_savedState = CPython.PyEval_SaveThread();

    /// <summary>Queues a decref for the next GIL release (used by finalizers, which must not take the GIL).</summary>
    internal static void QueueDecref(nint handle)
    {
        s_pendingDecrefs.Enqueue(handle);
        Interlocked.Increment(ref s_pendingCount);
    }

    /// <summary>Number of decrefs queued by finalizers and not yet applied (for tests).</summary>
    internal static int PendingDecrefs => Volatile.Read(ref s_pendingCount);

    private static void DrainPendingDecrefs()
    {
        while (s_pendingDecrefs.TryDequeue(out nint handle))
        {
            Interlocked.Decrement(ref s_pendingCount);
            CPython.Py_DecRef(handle);
        }
    }

    /// <summary>Decref now (taking the GIL if needed) when Python is up.</summary>
    internal static void DecrefSoon(nint handle)
    {
        if (!PythonRuntime.IsInitialized) return;
        using (Acquire()) CPython.Py_DecRef(handle);
    }
}
