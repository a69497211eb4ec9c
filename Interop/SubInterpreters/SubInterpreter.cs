using System.Runtime.InteropServices;
using System.Text;
using Bridge.Interop.Native;

namespace Bridge.Interop.SubInterpreters;

/*
 * Design notes
 *
 * A sub-interpreter with its own GIL (PEP 684, CPython 3.12+) lives on exactly one .NET thread: the thread that
 * created it runs every call and ends it. The lifecycle is the one CPython's own _testcapi uses:
 *   PyGILState_Ensure (main interpreter, this thread's gilstate thread state)
 *   main = PyThreadState_Get(); PyThreadState_Swap(NULL)        -> gives the main GIL back
 *   Py_NewInterpreterFromConfig(&ts, {use_main_obmalloc=0, check_multi_interp_extensions=1, gil=OWN})
 *   ... bootstrap; PyEval_SaveThread() ...                        -> idle: its own GIL released
 *   per call: PyEval_RestoreThread(ts) ... PyEval_SaveThread()
 *   Dispose: PyEval_RestoreThread(ts); Py_EndInterpreter(ts); PyThreadState_Swap(main); PyGILState_Release
 *
 * No PyObject crosses interpreters: arguments arrive as plain .NET values (the untyped MessagePack graph of
 * Bridge/CONVERSIONS.md: null, bool, long, double, string, byte[], arrays, dictionaries) and are rebuilt as
 * new objects of this interpreter; results leave the same way (SubInterpreterValues). Bridge.Interop's Gil,
 * Py and PyObject belong to the main interpreter and must not be used on a sub-interpreter's thread.
 *
 * check_multi_interp_extensions = 1: importing a C extension that does not declare sub-interpreter support
 * (single-phase init: numpy 1.x/2.x today, many others) raises ImportError "module X does not support loading
 * in subinterpreters"; the bootstrap's error mapper rewrites that message to name the module and to point at
 * process workers. allow_fork/allow_exec/allow_daemon_threads are 0 (the isolated defaults): a daemon thread
 * would outlive Py_EndInterpreter, and fork inside a multi-threaded .NET process is unsafe anyway.
 */

/// <summary>A CPython sub-interpreter with its own GIL (Python 3.12+), bound to the .NET thread that created it.</summary>
/// <remarks>
/// <para>Not thread-safe: create, call and dispose it on one thread (any other thread gets
/// <see cref="InvalidOperationException"/>). Several sub-interpreters on several threads run Python in parallel.</para>
/// <para>Requires <see cref="PythonRuntime.Initialize"/> with a Python 3.12 or later shared library.</para>
/// </remarks>
public sealed unsafe partial class SubInterpreter : IDisposable
{
    /// <summary>Python code run once in every new sub-interpreter (its <c>__main__</c>).</summary>
    private const string Bootstrap = """
        import sys
        if _db_sys_path is not None:
            sys.path[:] = _db_sys_path
        if _db_executable:
            sys.executable = _db_executable
        del _db_sys_path, _db_executable
        _db_cache = {}
        _db_exec_count = 0
        _DB_REFUSED = 'does not support loading in subinterpreters'

        def _db_resolve(name):
            modname, _, qualname = name.partition(':')
            __import__(modname)  # not importlib.import_module: importing importlib costs start-up time
            obj = sys.modules[modname]
            for part in qualname.split('.'):
                obj = getattr(obj, part)
            return obj

        def _db_refused(e):
            seen = 0
            while e is not None and seen < 16:
                if isinstance(e, ImportError) and _DB_REFUSED in str(e):
                    return e
                e = e.__cause__ or e.__context__
                seen += 1
            return None

        def _db_err(e, kind='raised', depth=0):
            import traceback  # lazily: it pulls in re, textwrap, enum... (start-up time)
            t = type(e)
            message = str(e)
            refused = _db_refused(e) if depth == 0 else None
            if refused is not None:
                text = str(refused)
                mod = getattr(refused, 'name', None) or (text.split()[1] if text.startswith('module ') else '?')
                message = (f"module '{mod}' does not support sub-interpreters, so it cannot be imported in an "
                           f"interpreter worker; run this callable in process workers (the default) instead. "
                           f"({text})" + ('' if refused is e else f'; raised as {t.__name__}: {e}'))
            cause = e.__cause__ if e.__cause__ is not None else (None if e.__suppress_context__ else e.__context__)
            return {
                'type': t.__module__ + '.' + t.__qualname__,
                'message': message,
                'traceback': ''.join(traceback.format_exception(e)),
                'kind': kind,
                'cause': _db_err(cause, 'raised', depth + 1) if cause is not None and depth < 8 else None,
            }

        def _db_call(name, args):
            fn = _db_cache.get(name)
            if fn is None:
                try:
                    fn = _db_resolve(name)
                except BaseException as e:
                    return (1, _db_err(e, 'target'))
                _db_cache[name] = fn
            try:
                return (0, fn(*args))
            except BaseException as e:
                e.__traceback__ = e.__traceback__.tb_next  # drop this frame
                return (1, _db_err(e))

        def _db_set_path(path, executable):
            # A spare interpreter adopted by a pool: the path it would have been created with.
            sys.path[:] = path
            if executable:
                sys.executable = executable

        def _db_attach(name):
            # Maps a shared memory segment by name (a .NET SharedMemorySegment's or the stdlib's), zero copy,
            # without registering it with a resource tracker: the creator owns its unlink (and no tracker
            # process is started from inside the .NET process).
            from multiprocessing import shared_memory
            if sys.version_info >= (3, 13):
                return shared_memory.SharedMemory(name, track=False)
            from multiprocessing import resource_tracker
            register = resource_tracker.register
            resource_tracker.register = lambda *args, **kwargs: None
            try:
                return shared_memory.SharedMemory(name)
            finally:
                resource_tracker.register = register

        import _dotbridge_channels
        _dotbridge_channels.attach = _db_attach
        del _dotbridge_channels

        def _db_exec(code):
            import linecache
            global _db_exec_count
            _db_exec_count += 1
            filename = f'<dotbridge-exec-{_db_exec_count}>'
            # Keep the source so tracebacks show the lines of code run here (initializers).
            linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
            try:
                exec(compile(code, filename, 'exec'), globals())
                return (0, None)
            except BaseException as e:
                return (1, _db_err(e))
        """;

    /// <summary>The bootstrap compiled once (in the main interpreter) and marshalled: each new interpreter
    /// unmarshals it (about 0.05 ms) instead of compiling the source (about 3 ms in a fresh interpreter).</summary>
    private static byte[]? s_bootstrapCode;

    private readonly int _threadId;
    private readonly int _gilState;
    private readonly nint _mainState;
    private nint _state;       // this interpreter's thread state on the owning thread
    private nint _callHelper;  // _db_call (strong reference, this interpreter's)
    private nint _execHelper;  // _db_exec
    private bool _disposed;

    private SubInterpreter(int threadId, int gilState, nint mainState)
    {
        _threadId = threadId;
        _gilState = gilState;
        _mainState = mainState;
    }

    /// <summary>True when the initialized runtime supports sub-interpreters with their own GIL (3.12+).</summary>
    public static bool IsSupported => PythonRuntime.IsInitialized && PythonRuntime.Version >= new Version(3, 12);

    /// <summary>Why <see cref="IsSupported"/> is false (or null when it is true).</summary>
    public static string? UnsupportedReason =>
        !PythonRuntime.IsInitialized ? "Python is not initialized: call PythonRuntime.Initialize() first."
        : IsSupported ? null
        : $"interpreter workers need Python 3.12 or later (a GIL per sub-interpreter, PEP 684); the loaded Python is {PythonRuntime.Version} "
          + $"({PythonRuntime.Location.LibraryPath ?? PythonRuntime.Location.Executable}). Use process workers (ProcessPool), or point "
          + "PythonOptions.LibraryPath / PYTHONNET_PYDLL at a libpython3.12+ shared library.";

    /// <summary>Creates a sub-interpreter bound to the calling thread.</summary>
    /// <param name="sysPath">Its <c>sys.path</c> (for example the main interpreter's), or null for CPython's default.</param>
    /// <param name="executable">Its <c>sys.executable</c>, or null to keep CPython's.</param>
    /// <returns>The interpreter; dispose it on the same thread.</returns>
    /// <exception cref="PlatformNotSupportedException">Python is not initialized or older than 3.12.</exception>
    /// <exception cref="InvalidOperationException">CPython refused to create the interpreter, or its bootstrap failed.</exception>
    public static SubInterpreter Create(IReadOnlyList<string>? sysPath = null, string? executable = null)
    {
        if (!IsSupported) throw new PlatformNotSupportedException(UnsupportedReason);
        int gilState = CPython.PyGILState_Ensure();
        nint main = CPython.PyThreadState_Get();
        s_bootstrapCode ??= CompileBootstrap(); // main GIL held
        CPython.PyThreadState_Swap(0);
        var config = new CPython.PyInterpreterConfig
        {
            UseMainObmalloc = 0,
            AllowFork = 0,
            AllowExec = 0,
            AllowThreads = 1,
            AllowDaemonThreads = 0,
            CheckMultiInterpExtensions = 1,
            Gil = 2,
        };
        nint ts = 0;
        var status = CPython.Py_NewInterpreterFromConfig(&ts, &config);
        if (status.Type != 0 || ts == 0)
        {
            string why = Marshal.PtrToStringUTF8(status.ErrMsg) ?? "unknown error";
            CPython.PyThreadState_Swap(main);
            CPython.PyGILState_Release(gilState);
            throw new InvalidOperationException($"Py_NewInterpreterFromConfig failed: {why}");
        }
        var interp = new SubInterpreter(Environment.CurrentManagedThreadId, gilState, main) { _state = ts };
        interp.RecordOwner(ts);
        try
        {
            interp.RunBootstrap(sysPath, executable);
        }
        catch
        {
            interp._state = CPython.PyEval_SaveThread();
            interp.Dispose();
            throw;
        }
        interp._state = CPython.PyEval_SaveThread();
        return interp;
    }

    private void RunBootstrap(IReadOnlyList<string>? sysPath, string? executable)
    {
        nint main;
        fixed (byte* n = Libc.Utf8Z("__main__")) main = CPython.PyImport_AddModule(n);
        if (main == 0) throw FetchError("import __main__");
        nint globals = CPython.PyModule_GetDict(main);
        InterpreterChannel.InstallModule();
        SetGlobal(globals, "_db_sys_path", sysPath is null ? null : sysPath.ToArray());
        SetGlobal(globals, "_db_executable", executable);
        nint r;
        byte[]? marshalled = s_bootstrapCode;
        if (marshalled is { Length: > 0 })
        {
            nint code;
            fixed (byte* m = marshalled) code = CPython.PyMarshal_ReadObjectFromString(m, marshalled.Length);
            if (code == 0) throw FetchError("bootstrap (unmarshal)");
            r = CPython.PyEval_EvalCode(code, globals, globals);
            CPython.Py_DecRef(code);
        }
        else
        {
            fixed (byte* code = Libc.Utf8Z(Bootstrap)) r = CPython.PyRun_String(code, CPython.PyFileInput, globals, globals);
        }
        if (r == 0) throw FetchError("bootstrap");
        CPython.Py_DecRef(r);
        _callHelper = GetGlobal(globals, "_db_call");
        _execHelper = GetGlobal(globals, "_db_exec");
    }

    /// <summary>Compiles and marshals the bootstrap in the interpreter whose GIL this thread holds (the main one);
    /// an empty array (use the source) if that fails. Marshal data is only read back by this same libpython.</summary>
    private static byte[] CompileBootstrap()
    {
        nint code;
        fixed (byte* src = Libc.Utf8Z(Bootstrap))
        fixed (byte* name = Libc.Utf8Z("<dotbridge-bootstrap>"))
        {
            code = CPython.Py_CompileString(src, name, CPython.PyFileInput);
        }
        if (code == 0)
        {
            CPython.PyErr_Clear();
            return [];
        }
        nint bytes = CPython.PyMarshal_WriteObjectToString(code, CPython.MarshalVersion);
        CPython.Py_DecRef(code);
        if (bytes == 0)
        {
            CPython.PyErr_Clear();
            return [];
        }
        try
        {
            byte* buffer;
            nint length;
            if (CPython.PyBytes_AsStringAndSize(bytes, &buffer, &length) != 0)
            {
                CPython.PyErr_Clear();
                return [];
            }
            return new ReadOnlySpan<byte>(buffer, checked((int)length)).ToArray();
        }
        finally
        {
            CPython.Py_DecRef(bytes);
        }
    }

    private static void SetGlobal(nint globals, string name, object? value)
    {
        nint v = SubInterpreterValues.ToPython(value, 0);
        int rc;
        fixed (byte* n = Libc.Utf8Z(name)) rc = CPython.PyDict_SetItemString(globals, n, v);
        CPython.Py_DecRef(v);
        if (rc != 0) throw FetchError("set " + name);
    }

    private static nint GetGlobal(nint globals, string name)
    {
        nint v;
        fixed (byte* n = Libc.Utf8Z(name)) v = CPython.PyDict_GetItemString(globals, n);
        if (v == 0) throw new InvalidOperationException($"sub-interpreter bootstrap did not define {name}");
        CPython.Py_IncRef(v);
        return v;
    }

    /// <summary>Calls <c>"module:qualname"</c> with positional <paramref name="args"/> inside this interpreter.</summary>
    /// <param name="target">The callable, as <c>"package.module:qualname"</c>; resolved once and cached per interpreter.</param>
    /// <param name="args">Plain values (see the design notes); converted to new objects of this interpreter.</param>
    /// <param name="raised">Set when the call failed: the result is then an error map (<c>type</c>, <c>message</c>,
    /// <c>traceback</c>, <c>kind</c>, <c>cause</c> — the wire protocol's ERROR map) as a <c>Dictionary&lt;object, object?&gt;</c>.</param>
    /// <returns>The result as a plain value, or the error map.</returns>
    /// <exception cref="InvalidOperationException">Called from another thread than the creator.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public object? Call(string target, object?[] args, out bool raised)
    {
        CheckThread();
        CPython.PyEval_RestoreThread(_state);
        _busy = 1; // with this interpreter's GIL held (SubInterpreter.Interrupt.cs)
        try
        {
            nint argList;
            try
            {
                argList = SubInterpreterValues.ToPython(args, 0);
            }
            catch (ArgumentException e)
            {
                raised = true;
                return ErrorMap("builtins.TypeError", e.Message, "args");
            }
            nint name = SubInterpreterValues.ToPython(target, 0);
            nint pair = CallHelper(_callHelper, name, argList);
            CPython.Py_DecRef(name);
            CPython.Py_DecRef(argList);
            return Unpack(pair, out raised);
        }
        finally
        {
            _busy = 0;
            _state = CPython.PyEval_SaveThread();
        }
    }

    /// <summary>Runs Python statements in this interpreter's <c>__main__</c> (definitions stay for later calls
    /// as <c>"__main__:name"</c>).</summary>
    /// <param name="code">The statements.</param>
    /// <param name="raised">Set when the code raised; the result is then the error map (see <see cref="Call"/>).</param>
    /// <returns>null, or the error map.</returns>
    /// <exception cref="InvalidOperationException">Called from another thread than the creator.</exception>
    /// <exception cref="ObjectDisposedException">Disposed.</exception>
    public object? Exec(string code, out bool raised)
    {
        CheckThread();
        CPython.PyEval_RestoreThread(_state);
        _busy = 1; // with this interpreter's GIL held (SubInterpreter.Interrupt.cs)
        try
        {
            nint c = SubInterpreterValues.ToPython(code, 0);
            nint pair = CPython.PyObject_CallOneArg(_execHelper, c);
            CPython.Py_DecRef(c);
            return Unpack(pair, out raised);
        }
        finally
        {
            _busy = 0;
            _state = CPython.PyEval_SaveThread();
        }
    }

    private static nint CallHelper(nint helper, nint a, nint b)
    {
        nint* argv = stackalloc nint[2];
        argv[0] = a;
        argv[1] = b;
        return CPython.PyObject_Vectorcall(helper, argv, 2, 0);
    }

    /// <summary>Converts the helper's (status, value) tuple (new reference, consumed).</summary>
    private static object? Unpack(nint pair, out bool raised)
    {
        if (pair == 0)
        {
            raised = true;
            var e = FetchError("call");
            return ErrorMap("builtins.SystemError", e.Message, "raised");
        }
        try
        {
            raised = CPython.PyLong_AsLongLong(CPython.PyTuple_GetItem(pair, 0)) != 0;
            nint value = CPython.PyTuple_GetItem(pair, 1);
            try
            {
                return SubInterpreterValues.FromPython(value, 0);
            }
            catch (ArgumentException e)
            {
                raised = true;
                return ErrorMap("builtins.TypeError", e.Message, "result");
            }
        }
        finally
        {
            CPython.Py_DecRef(pair);
        }
    }

    private static Dictionary<object, object?> ErrorMap(string type, string message, string kind) => new()
    {
        ["type"] = type,
        ["message"] = message,
        ["traceback"] = "",
        ["kind"] = kind,
        ["cause"] = null,
    };

    /// <summary>Takes the pending Python error of this interpreter (GIL held) as an InvalidOperationException.</summary>
    private static InvalidOperationException FetchError(string what)
    {
        nint exc = CPython.PyErr_GetRaisedException != null ? CPython.PyErr_GetRaisedException() : 0;
        if (exc == 0) return new InvalidOperationException($"sub-interpreter {what} failed without a Python exception");
        string type = CPython.TypeNameOf(exc);
        string message = "";
        nint s = CPython.PyObject_Str(exc);
        if (s != 0)
        {
            message = SubInterpreterValues.FromPython(s, 0) as string ?? "";
            CPython.Py_DecRef(s);
        }
        else
        {
            CPython.PyErr_Clear();
        }
        CPython.Py_DecRef(exc);
        return new InvalidOperationException($"sub-interpreter {what} failed: {type}: {message}");
    }

    private void CheckThread()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Environment.CurrentManagedThreadId != _threadId)
        {
            throw new InvalidOperationException("A sub-interpreter must be used on the thread that created it.");
        }
    }

    /// <summary>Ends the interpreter (Py_EndInterpreter; joins its non-daemon Python threads). Call on the creating thread.</summary>
    /// <exception cref="InvalidOperationException">Called from another thread than the creator.</exception>
    public void Dispose()
    {
        if (_disposed) return;
        CheckThread();
        lock (_gate) _disposed = true; // no interrupter is attached from here on
        CPython.PyEval_RestoreThread(_state);
        ClearPendingInterrupt();
        if (_callHelper != 0) CPython.Py_DecRef(_callHelper);
        if (_execHelper != 0) CPython.Py_DecRef(_execHelper);
        CPython.Py_EndInterpreter(_state);
        _state = 0;
        CPython.PyThreadState_Swap(_mainState);
        CPython.PyGILState_Release(_gilState);
    }

    internal static string Utf8(byte* p, nint n) => Encoding.UTF8.GetString(p, checked((int)n));
}
