using System.Runtime.InteropServices;

namespace Bridge.Interop.Native;

/// <summary>
/// P/Invoke declarations for CPython's stable-enough C API (3.9–3.13).
/// </summary>
/// <remarks>
/// Design notes: every import names <see cref="Lib"/>, a placeholder that
/// <see cref="PythonRuntime"/> resolves (through NativeLibrary.SetDllImportResolver)
/// to the libpython handle it dlopen'ed with RTLD_GLOBAL. All signatures are blittable
/// (nint, long, double, byte*), so the stubs need no marshalling. Functions that exist
/// only in some versions (PyErr_GetRaisedException, 3.12+) are looked up with
/// NativeLibrary.TryGetExport instead. Every call must be made with the GIL held
/// (see <see cref="Gil"/>), except the lifecycle functions that say otherwise.
/// </remarks>
internal static unsafe partial class CPython
{
    internal const string Lib = "dotbridge-libpython";

    // ----- lifecycle and threads -----
    [DllImport(Lib)] internal static extern void Py_InitializeEx(int initsigs);
    [DllImport(Lib)] internal static extern int Py_IsInitialized();
    [DllImport(Lib)] internal static extern nint Py_GetVersion();
    [DllImport(Lib)] internal static extern nint PyEval_SaveThread();
    [DllImport(Lib)] internal static extern void PyEval_RestoreThread(nint tstate);
    [DllImport(Lib)] internal static extern int PyGILState_Ensure();
    [DllImport(Lib)] internal static extern void PyGILState_Release(int state);
    [DllImport(Lib)] internal static extern nint PyGILState_GetThisThreadState();

    // ----- reference counts -----
    [DllImport(Lib)] internal static extern void Py_IncRef(nint o);
    [DllImport(Lib)] internal static extern void Py_DecRef(nint o);

    // ----- generic objects -----
    [DllImport(Lib)] internal static extern nint PyImport_ImportModule(byte* name);
    [DllImport(Lib)] internal static extern nint PyObject_GetAttrString(nint o, byte* name);
    [DllImport(Lib)] internal static extern int PyObject_SetAttrString(nint o, byte* name, nint v);
    [DllImport(Lib)] internal static extern int PyObject_HasAttrString(nint o, byte* name);
    [DllImport(Lib)] internal static extern nint PyObject_GetItem(nint o, nint key);
    [DllImport(Lib)] internal static extern int PyObject_SetItem(nint o, nint key, nint v);
    [DllImport(Lib)] internal static extern nint PyObject_Str(nint o);
    [DllImport(Lib)] internal static extern nint PyObject_Repr(nint o);
    [DllImport(Lib)] internal static extern int PyObject_IsTrue(nint o);
    [DllImport(Lib)] internal static extern int PyCallable_Check(nint o);
    [DllImport(Lib)] internal static extern nint PyObject_Call(nint callable, nint args, nint kwargs);
    [DllImport(Lib)] internal static extern nint PyObject_CallNoArgs(nint callable);
    [DllImport(Lib)] internal static extern nint PyObject_CallOneArg(nint callable, nint arg);
    [DllImport(Lib)] internal static extern nint PyObject_Vectorcall(nint callable, nint* args, nuint nargsf, nint kwnames);
    [DllImport(Lib)] internal static extern ulong PyType_GetFlags(nint type);
    [DllImport(Lib)] internal static extern nint PyObject_Size(nint o);
    [DllImport(Lib)] internal static extern nint PyObject_GetIter(nint o);
    [DllImport(Lib)] internal static extern nint PyIter_Next(nint iterator);
    [DllImport(Lib)] internal static extern int PyObject_RichCompareBool(nint a, nint b, int op);

    // ----- numbers -----
    [DllImport(Lib)] internal static extern nint PyLong_FromLongLong(long v);
    [DllImport(Lib)] internal static extern nint PyLong_FromUnsignedLongLong(ulong v);
    [DllImport(Lib)] internal static extern long PyLong_AsLongLong(nint o);
    [DllImport(Lib)] internal static extern long PyLong_AsLongLongAndOverflow(nint o, int* overflow);
    [DllImport(Lib)] internal static extern ulong PyLong_AsUnsignedLongLong(nint o);
    [DllImport(Lib)] internal static extern nint PyLong_FromString(byte* str, nint pend, int @base);
    [DllImport(Lib)] internal static extern nint PyNumber_ToBase(nint o, int @base);
    [DllImport(Lib)] internal static extern nint PyNumber_Index(nint o);
    [DllImport(Lib)] internal static extern nint PyFloat_FromDouble(double v);
    [DllImport(Lib)] internal static extern double PyFloat_AsDouble(nint o);
    [DllImport(Lib)] internal static extern nint PyBool_FromLong(long v);

    // ----- the typed fast path: only for exact int/float arguments, where these neither run Python code nor
    // block, so the GC transition can be skipped (SuppressGCTransition's contract) -----
    [DllImport(Lib, EntryPoint = "PyLong_FromLongLong"), SuppressGCTransition] internal static extern nint Fast_PyLong_FromLongLong(long v);
    [DllImport(Lib, EntryPoint = "PyLong_AsLongLongAndOverflow"), SuppressGCTransition] internal static extern long Fast_PyLong_AsLongLongAndOverflow(nint exactInt, int* overflow);
    [DllImport(Lib, EntryPoint = "PyFloat_FromDouble"), SuppressGCTransition] internal static extern nint Fast_PyFloat_FromDouble(double v);
    [DllImport(Lib, EntryPoint = "PyFloat_AsDouble"), SuppressGCTransition] internal static extern double Fast_PyFloat_AsDouble(nint exactFloat);
    [DllImport(Lib, EntryPoint = "PyErr_Occurred"), SuppressGCTransition] internal static extern nint Fast_PyErr_Occurred();

    // ----- strings and bytes -----
    [DllImport(Lib)] internal static extern nint PyUnicode_FromStringAndSize(byte* s, nint size);
    [DllImport(Lib)] internal static extern byte* PyUnicode_AsUTF8AndSize(nint o, nint* size);
    [DllImport(Lib)] internal static extern nint PyBytes_FromStringAndSize(byte* s, nint size);
    [DllImport(Lib)] internal static extern int PyBytes_AsStringAndSize(nint o, byte** buffer, nint* length);

    // ----- containers -----
    [DllImport(Lib)] internal static extern nint PyList_New(nint size);
    [DllImport(Lib)] internal static extern nint PyList_Size(nint o);
    [DllImport(Lib)] internal static extern nint PyList_GetItem(nint o, nint i); // borrowed
    [DllImport(Lib)] internal static extern int PyList_SetItem(nint o, nint i, nint item); // steals
    [DllImport(Lib)] internal static extern int PyList_Append(nint o, nint item);
    [DllImport(Lib)] internal static extern nint PyTuple_New(nint size);
    [DllImport(Lib)] internal static extern nint PyTuple_Size(nint o);
    [DllImport(Lib)] internal static extern nint PyTuple_GetItem(nint o, nint i); // borrowed
    [DllImport(Lib)] internal static extern int PyTuple_SetItem(nint o, nint i, nint item); // steals
    [DllImport(Lib)] internal static extern nint PyDict_New();
    [DllImport(Lib)] internal static extern int PyDict_SetItem(nint d, nint key, nint v);
    [DllImport(Lib)] internal static extern int PyDict_SetItemString(nint d, byte* key, nint v);
    [DllImport(Lib)] internal static extern int PyDict_Next(nint d, nint* pos, nint* key, nint* value); // borrowed
    [DllImport(Lib)] internal static extern nint PyDict_Size(nint d);

    // ----- errors -----
    [DllImport(Lib)] internal static extern nint PyErr_Occurred(); // borrowed
    [DllImport(Lib)] internal static extern void PyErr_Clear();
    [DllImport(Lib)] internal static extern void PyErr_Fetch(nint* type, nint* value, nint* traceback);
    [DllImport(Lib)] internal static extern void PyErr_NormalizeException(nint* type, nint* value, nint* traceback);
    [DllImport(Lib)] internal static extern void PyErr_SetString(nint type, byte* message);
    [DllImport(Lib)] internal static extern int PyException_SetTraceback(nint ex, nint tb);
    [DllImport(Lib)] internal static extern nint PyException_GetCause(nint ex); // new ref
    [DllImport(Lib)] internal static extern nint PyException_GetContext(nint ex); // new ref

    // ----- type flags (Include/object.h) -----
    internal const ulong TpFlagsLongSubclass = 1UL << 24;
    internal const ulong TpFlagsListSubclass = 1UL << 25;
    internal const ulong TpFlagsTupleSubclass = 1UL << 26;
    internal const ulong TpFlagsBytesSubclass = 1UL << 27;
    internal const ulong TpFlagsUnicodeSubclass = 1UL << 28;
    internal const ulong TpFlagsDictSubclass = 1UL << 29;
    internal const ulong TpFlagsBaseExcSubclass = 1UL << 30;

    // ----- exported data and optional functions, filled in by Bind -----
    internal static nint None;
    internal static nint True;
    internal static nint False;
    internal static nint FloatType;
    internal static nint BoolType;
    internal static nint LongType;
    internal static delegate* unmanaged<nint> PyErr_GetRaisedException;
    /// <summary>The current thread state without checks (_PyThreadState_UncheckedGet before 3.13,
    /// PyThreadState_GetUnchecked from 3.13): the GIL holder's, process-wide, in 3.11; the calling thread's
    /// attached one (thread-local) from 3.12. Equal to this thread's own state exactly when it holds the GIL.</summary>
    internal static delegate* unmanaged[SuppressGCTransition]<nint> CurrentThreadState;

    /// <summary>Resolves exported data symbols and version-specific functions from the loaded library.</summary>
    internal static void Bind(nint library)
    {
        None = NativeLibrary.GetExport(library, "_Py_NoneStruct");
        True = NativeLibrary.GetExport(library, "_Py_TrueStruct");
        False = NativeLibrary.GetExport(library, "_Py_FalseStruct");
        FloatType = NativeLibrary.GetExport(library, "PyFloat_Type");
        BoolType = NativeLibrary.GetExport(library, "PyBool_Type");
        LongType = NativeLibrary.GetExport(library, "PyLong_Type");
        PyErr_GetRaisedException = NativeLibrary.TryGetExport(library, "PyErr_GetRaisedException", out var p)
            ? (delegate* unmanaged<nint>)p
            : null;
        CurrentThreadState = (delegate* unmanaged[SuppressGCTransition]<nint>)(
            NativeLibrary.TryGetExport(library, "PyThreadState_GetUnchecked", out var current) ? current
            : NativeLibrary.GetExport(library, "_PyThreadState_UncheckedGet"));
    }

    /// <summary>Py_TYPE(o): ob_type follows the 8-byte ob_refcnt in every non-free-threaded build.</summary>
    internal static nint TypeOf(nint o) => *(nint*)(o + sizeof(nint));

    internal static ulong FlagsOf(nint o) => PyType_GetFlags(TypeOf(o));
}
