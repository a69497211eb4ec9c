using System.Runtime.InteropServices;

namespace Bridge.Native;

/// <summary>
/// Raises <c>SystemExit</c> in a thread that runs Python code in a sub-interpreter of the host process
/// (interpreter workers, ABI.md "Interpreter workers": terminate and exit would otherwise have to wait
/// for the call to return). Uses the host's CPython C API through the process's global symbols.
/// </summary>
/// <remarks>
/// The caller must not hold any GIL on this thread (ctypes releases the main interpreter's around the
/// call). Steps: find the interpreter by id, attach a new thread state to it (this waits for its GIL:
/// the running call gives it up at its switch interval), <c>PyThreadState_SetAsyncExc(thread, SystemExit)</c>,
/// then clear and delete that thread state.
/// </remarks>
internal static unsafe class CPythonInterrupt
{
    /// <summary>1 if the exception was set, 0 if no such interpreter or thread; throws when the symbols are missing.</summary>
    /// <exception cref="EntryPointNotFoundException">The process has no CPython 3.12+ C API.</exception>
    public static int Interrupt(long interpreterId, ulong threadIdent)
    {
        nint main = NativeLibrary.GetMainProgramHandle();
        var head = (delegate* unmanaged[Cdecl]<nint>)Sym(main, "PyInterpreterState_Head");
        var next = (delegate* unmanaged[Cdecl]<nint, nint>)Sym(main, "PyInterpreterState_Next");
        var getId = (delegate* unmanaged[Cdecl]<nint, long>)Sym(main, "PyInterpreterState_GetID");
        var newTs = (delegate* unmanaged[Cdecl]<nint, nint>)Sym(main, "PyThreadState_New");
        var restore = (delegate* unmanaged[Cdecl]<nint, void>)Sym(main, "PyEval_RestoreThread");
        var setAsync = (delegate* unmanaged[Cdecl]<nuint, nint, int>)Sym(main, "PyThreadState_SetAsyncExc");
        var clear = (delegate* unmanaged[Cdecl]<nint, void>)Sym(main, "PyThreadState_Clear");
        var deleteCurrent = (delegate* unmanaged[Cdecl]<void>)Sym(main, "PyThreadState_DeleteCurrent");
        nint systemExit = *(nint*)Sym(main, "PyExc_SystemExit");
        nint interp = 0;
        for (nint i = head(); i != 0; i = next(i))
        {
            if (getId(i) == interpreterId)
            {
                interp = i;
                break;
            }
        }
        if (interp == 0 || interpreterId == 0)
            return 0; // never the main interpreter
        nint ts = newTs(interp);
        restore(ts);
        int n = setAsync((nuint)threadIdent, systemExit);
        clear(ts);
        deleteCurrent();
        return n > 0 ? 1 : 0;
    }

    private static nint Sym(nint lib, string name) =>
        NativeLibrary.TryGetExport(lib, name, out nint p) ? p : throw new EntryPointNotFoundException($"CPython symbol {name} not found in this process");
}
