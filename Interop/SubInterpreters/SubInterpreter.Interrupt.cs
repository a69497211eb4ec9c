using System.Runtime.InteropServices;
using Bridge.Interop.Native;

namespace Bridge.Interop.SubInterpreters;

// Interrupting a running call from another thread (a pool that terminates). The steps are the ones
// PyThreadState_SetAsyncExc's users take: attach a new thread state to this interpreter (which waits for its GIL:
// a running call gives it up at its switch interval), set SystemExit on the owning thread's state, drop the
// temporary thread state. _busy is changed only by the owning thread while it holds this interpreter's GIL, so the
// interrupter, once it holds that GIL, sees whether a call is still running: an idle interpreter never gets a
// pending exception. _gate keeps Dispose (Py_EndInterpreter) from running while an interrupter is attached.
public sealed unsafe partial class SubInterpreter
{
    private readonly object _gate = new();
    private nint _interpreterState; // PyInterpreterState*, set on creation
    private nuint _threadIdent;     // the owning thread's PyThread_get_thread_ident()
    private volatile int _busy;     // 1 while Call/Exec run Python code (changed with this interpreter's GIL held)

    /// <summary>Raises <c>SystemExit</c> in the call this interpreter is running, if any: it ends at its next bytecode
    /// (a blocking C call, <c>time.sleep</c> say, returns first). Callable from any thread that holds no GIL; returns
    /// at once when the interpreter is idle or disposed.</summary>
    /// <returns>True when an exception was set in a running call.</returns>
    public bool Interrupt()
    {
        lock (_gate)
        {
            if (_disposed || _busy == 0 || _interpreterState == 0) return false;
            nint ts = Api.PyThreadState_New(_interpreterState);
            if (ts == 0) return false;
            CPython.PyEval_RestoreThread(ts);
            int n = 0;
            if (_busy != 0)
            {
                n = Api.PyThreadState_SetAsyncExc(_threadIdent, *(nint*)NativeLibrary.GetExport(Libc.OpenSelf(), "PyExc_SystemExit"));
            }
            Api.PyThreadState_Clear(ts);
            Api.PyThreadState_DeleteCurrent();
            return n > 0;
        }
    }

    /// <summary>On the owning thread, right after creation (this interpreter's GIL held).</summary>
    private void RecordOwner(nint tstate)
    {
        _interpreterState = Api.PyThreadState_GetInterpreter(tstate);
        _threadIdent = Api.PyThread_get_thread_ident();
    }

    /// <summary>On the owning thread, GIL held, before Py_EndInterpreter: drops an exception an interrupter set after
    /// the last call had already left Python code.</summary>
    private void ClearPendingInterrupt()
    {
        if (_threadIdent != 0) Api.PyThreadState_SetAsyncExc(_threadIdent, 0);
    }

    private static class Api
    {
        [DllImport(CPython.Lib)] internal static extern nint PyThreadState_New(nint interp);
        [DllImport(CPython.Lib)] internal static extern void PyThreadState_Clear(nint tstate);
        [DllImport(CPython.Lib)] internal static extern void PyThreadState_DeleteCurrent();
        [DllImport(CPython.Lib)] internal static extern int PyThreadState_SetAsyncExc(nuint id, nint exc);
        [DllImport(CPython.Lib)] internal static extern nint PyThreadState_GetInterpreter(nint tstate);
        [DllImport(CPython.Lib)] internal static extern nuint PyThread_get_thread_ident();
    }
}
