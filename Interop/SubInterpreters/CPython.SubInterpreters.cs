using System.Runtime.InteropServices;

namespace Bridge.Interop.Native;

/// <summary>The C API used by sub-interpreters (3.12+ only: Py_NewInterpreterFromConfig and a per-interpreter GIL).</summary>
internal static unsafe partial class CPython
{
    /// <summary>PyInterpreterConfig (Include/cpython/pylifecycle.h): seven ints in this order in both 3.12 and 3.13.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PyInterpreterConfig
    {
        internal int UseMainObmalloc;
        internal int AllowFork;
        internal int AllowExec;
        internal int AllowThreads;
        internal int AllowDaemonThreads;
        internal int CheckMultiInterpExtensions;
        internal int Gil; // 0 default, 1 shared, 2 own
    }

    /// <summary>PyStatus (Include/cpython/initconfig.h): returned by value (32 bytes, through a hidden pointer).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct PyStatus
    {
        internal int Type; // 0 ok, 1 error, 2 exit
        internal nint Func;
        internal nint ErrMsg;
        internal int ExitCode;
    }

    internal const int PyFileInput = 257;
    internal const int PyEvalInput = 258;

    /// <summary>Py_MARSHAL_VERSION of 3.12 and 3.13 (readable by every later version too).</summary>
    internal const int MarshalVersion = 4;

    [DllImport(Lib)] internal static extern PyStatus Py_NewInterpreterFromConfig(nint* tstate, PyInterpreterConfig* config);
    [DllImport(Lib)] internal static extern void Py_EndInterpreter(nint tstate);
    [DllImport(Lib)] internal static extern nint PyThreadState_Get();
    [DllImport(Lib)] internal static extern nint PyThreadState_Swap(nint tstate);
    [DllImport(Lib)] internal static extern nint PyRun_String(byte* code, int start, nint globals, nint locals);
    [DllImport(Lib)] internal static extern nint PyImport_AddModule(byte* name); // borrowed
    [DllImport(Lib)] internal static extern nint PyModule_GetDict(nint module); // borrowed
    [DllImport(Lib)] internal static extern nint PyDict_GetItemString(nint d, byte* key); // borrowed
    [DllImport(Lib)] internal static extern nint PyModule_New(byte* name);
    [DllImport(Lib)] internal static extern nint PyCFunction_NewEx(nint methodDef, nint self, nint module);
    [DllImport(Lib)] internal static extern nint PyImport_GetModuleDict(); // borrowed
    [DllImport(Lib)] internal static extern nint Py_CompileString(byte* str, byte* filename, int start);
    [DllImport(Lib)] internal static extern nint PyMarshal_WriteObjectToString(nint o, int version);
    [DllImport(Lib)] internal static extern nint PyMarshal_ReadObjectFromString(byte* data, nint length);
    [DllImport(Lib)] internal static extern nint PyEval_EvalCode(nint code, nint globals, nint locals);

    /// <summary>Addresses of the exported PyObject* variables PyExc_TypeError / PyExc_TimeoutError (dereference for the type).</summary>
    internal static nint ExcTypeError => s_excTypeError != 0 ? s_excTypeError : s_excTypeError = ExportOf("PyExc_TypeError");
    internal static nint ExcTimeoutError => s_excTimeoutError != 0 ? s_excTimeoutError : s_excTimeoutError = ExportOf("PyExc_TimeoutError");
    private static nint s_excTypeError, s_excTimeoutError;

    private static nint ExportOf(string name)
    {
        // libpython was loaded with RTLD_GLOBAL (or is the host process itself): its symbols are in the global scope.
        return NativeLibrary.GetExport(Libc.OpenSelf(), name);
    }

    /// <summary>tp_name of o's type: PyTypeObject starts with a PyVarObject (refcnt, type, size), then tp_name.</summary>
    internal static string TypeNameOf(nint o) => Marshal.PtrToStringUTF8(*(nint*)(TypeOf(o) + 3 * sizeof(nint))) ?? "?";
}
