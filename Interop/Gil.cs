using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Bridge.Interop.Native;

namespace Bridge.Interop;

/*
 * Design notes
 *
 * CPython's GIL belongs to a thread state (PyThreadState), one per OS thread. .NET uses threads freely,
 * so every CPython call sits inside `using (Gil.Acquire())`.
 *
 * - The first acquisition on a .NET thread calls PyGILState_Ensure, which creates (or finds) that
 *   thread's PyThreadState and takes the GIL. From then on the thread keeps its thread state: the
 *   outermost release is PyEval_SaveThread (the state is cached in a [ThreadStatic]) and later
 *   acquisitions are PyEval_RestoreThread. Ensure/Release per call would create and destroy a thread
 *   state every time (7-8.5 us here); Restore/Save costs about 0.09 us. The cost: one small
 *   PyThreadState per .NET thread that ever touched Python stays allocated until the process exits.
 * - Re-entrant: a per-thread depth counter; only the outermost Acquire/Dispose touch the GIL.
 * - A thread that already holds the GIL when it first acquires (Python called into .NET on its own
 *   thread) gets PyGILState_Ensure/PyGILState_Release pairs instead, so .NET never releases a GIL it
 *   did not take.
 * - Finalizers never take the GIL: PyObject's finalizer queues its pointer here, and the next
 *   outermost release on any thread drains the queue (Py_DecRef) before giving up the GIL.
 * - Never await while holding the GIL: GilLock is a ref struct, so the compiler refuses to keep it
 *   across an await; a debug build also checks that it is released on the thread that took it.
 *   Long blocking .NET work inside a `using (Gil.Acquire())` block stalls every other Python thread.
 */

/// <summary>Takes CPython's global interpreter lock for the current .NET thread.</summary>
/// <remarks>Thread-safe: each thread acquires for itself; acquisitions nest on one thread.</remarks>
public static class Gil
{
    [ThreadStatic] private static nint t_savedState;
    [ThreadStatic] private static int t_depth;
    [ThreadStatic] private static bool t_foreign;
    [ThreadStatic] private static int t_foreignGilState;

    private static readonly ConcurrentQueue<nint> s_pendingDecrefs = new();
    private static int s_pendingCount;

    /// <summary>Takes the GIL (re-entrant). Dispose the result on the same thread, with no await in between.</summary>
    /// <example><code>using (Gil.Acquire()) { ... }</code></example>
    /// <exception cref="InvalidOperationException">Python is not initialized (<see cref="PythonRuntime.Initialize"/>).</exception>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static GilLock Acquire()
    {
        if (t_depth == 0) Take();
        t_depth++;
        return new GilLock(0);
    }

    /// <summary>True when the current thread holds the GIL through <see cref="Acquire"/>.</summary>
    public static bool IsHeld => t_depth > 0;

    private static void Take()
    {
        nint state = t_savedState;
        if (state != 0)
        {
            CPython.PyEval_RestoreThread(state);
            return;
        }
        if (!PythonRuntime.IsInitialized)
        {
            throw new InvalidOperationException("Python is not initialized: call PythonRuntime.Initialize() first.");
        }
        int gilState = CPython.PyGILState_Ensure();
        // PyGILState_LOCKED (0): this thread already held the GIL (Python called into .NET).
        t_foreign = gilState == 0;
        t_foreignGilState = gilState;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Release()
    {
        if (--t_depth != 0) return;
        if (Volatile.Read(ref s_pendingCount) != 0) DrainPendingDecrefs();
        if (t_foreign)
        {
            t_foreign = false;
            CPython.PyGILState_Release(t_foreignGilState);
            return;
        }
        t_savedState = CPython.PyEval_SaveThread();
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

    /// <summary>Decref now if the GIL can be had, else queue it.</summary>
    internal static void DecrefSoon(nint handle)
    {
        if (t_depth > 0)
        {
            CPython.Py_DecRef(handle);
        }
        else if (PythonRuntime.IsInitialized)
        {
            using (Acquire()) CPython.Py_DecRef(handle);
        }
    }
}
