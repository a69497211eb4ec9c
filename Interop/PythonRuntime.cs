using System.Runtime.InteropServices;
using Bridge.Interop.Native;

namespace Bridge.Interop;

/// <summary>The one embedded CPython interpreter of this process.</summary>
/// <remarks>
/// <para><see cref="Initialize"/> locates libpython (<see cref="PythonLocator"/>), loads it with
/// dlopen(RTLD_NOW | RTLD_GLOBAL) so C extensions such as numpy find its symbols, starts it with
/// Py_InitializeEx(0) (Python installs no signal handlers: .NET keeps SIGINT), runs a bootstrap that
/// sets <c>sys.executable</c> to the real executable and adds the probed executable's <c>sys.path</c>
/// (a venv's site-packages through <c>site.addsitedir</c>, so .pth files work), then releases the GIL.
/// On Python 3.12+ it starts CPython with <c>Py_NoSiteFlag</c> set and runs <c>site.main()</c> itself in that
/// bootstrap (same effect, but <c>sys.flags.no_site</c> reads 1), so that sub-interpreters (interpreter workers,
/// which copy this configuration) start without re-running <c>site</c>: see Interop/SubInterpreters/README.md.</para>
/// <para>When the process already runs CPython (Python loaded .NET), Initialize binds to that interpreter's
/// symbols instead of loading a library, and skips Py_InitializeEx and the sys.executable fix-up.</para>
/// <para>CPython cannot be re-initialized reliably after Py_Finalize (C extensions such as numpy do not
/// support it), so the interpreter lives until the process exits: <see cref="Shutdown"/> only runs
/// Python's atexit handlers and flushes stdio, once; Python stays usable afterwards.</para>
/// <para>Thread-safe: all members may be called from any thread.</para>
/// </remarks>
public static unsafe class PythonRuntime
{
    private static readonly object s_lock = new();
    private static volatile bool s_initialized;
    private static bool s_shutDown;
    private static nint s_library;
    private static PythonLocation? s_location;
    private static Version? s_version;
    private static string? s_versionString;
    private static nint s_home; // wchar_t* kept alive for Py_SetPythonHome

    static PythonRuntime()
    {
        NativeLibrary.SetDllImportResolver(typeof(PythonRuntime).Assembly,
            (name, _, _) => name == CPython.Lib ? s_library : 0);
    }

    /// <summary>True once <see cref="Initialize"/> has succeeded.</summary>
    public static bool IsInitialized => s_initialized;

    /// <summary>The installation in use.</summary>
    /// <exception cref="InvalidOperationException">Not initialized.</exception>
    public static PythonLocation Location => s_location ?? throw NotInitialized();

    /// <summary>The running interpreter's version (major.minor.micro).</summary>
    /// <exception cref="InvalidOperationException">Not initialized.</exception>
    public static Version Version => s_version ?? throw NotInitialized();

    /// <summary>The full <c>Py_GetVersion()</c> text, e.g. "3.11.2 (main, ...) [GCC 12.2.0]".</summary>
    /// <exception cref="InvalidOperationException">Not initialized.</exception>
    public static string VersionString => s_versionString ?? throw NotInitialized();

    /// <summary>Starts the interpreter, once per process. Later calls return at once and ignore <paramref name="options"/>.</summary>
    /// <exception cref="PythonNotFoundException">No libpython found.</exception>
    /// <exception cref="DllNotFoundException">The library exists but dlopen failed.</exception>
    /// <exception cref="PythonException">The bootstrap failed inside Python.</exception>
    public static void Initialize(PythonOptions? options = null)
    {
        if (s_initialized) return;
        lock (s_lock)
        {
            if (s_initialized) return;
            options ??= new PythonOptions();
            PythonLocation location;
            bool deferSite = false;
            nint lib = HostInterpreter();
            bool hosted = lib != 0;
            if (hosted)
            {
                // Python already runs in this process (it loaded us): use its symbols, never a second libpython.
                location = new PythonLocation(Environment.ProcessPath ?? "(host process)", null, null, null, null, [], "host process");
            }
            else
            {
                location = PythonLocator.Locate(options);
                lib = Libc.OpenGlobal(location.LibraryPath, out var error);
                if (lib == 0) throw new DllNotFoundException($"dlopen({location.LibraryPath}) failed: {error}");
            }
            s_library = lib;
            CPython.Bind(lib);

            if (!hosted)
            {
                string? home = options.Home;
                if (home is null && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("PYTHONHOME"))) home = location.BasePrefix;
                SetHome(lib, home);
                deferSite = DeferSite(lib);
                CPython.Py_InitializeEx(0);
                Gil.AdoptInitializingThread();
            }
            s_versionString = Marshal.PtrToStringUTF8(CPython.Py_GetVersion()) ?? "";
            s_version = ParseVersion(s_versionString);
            s_location = location;
            s_initialized = true;
            Bootstrap(location, options.ExtraPaths, deferSite);
        }
    }

    /// <summary>Runs Python's atexit handlers and flushes sys.stdout/sys.stderr, once. The interpreter
    /// is not finalized (see remarks on <see cref="PythonRuntime"/>); calling Python afterwards still works.</summary>
    public static void Shutdown()
    {
        lock (s_lock)
        {
            if (!s_initialized || s_shutDown) return;
            s_shutDown = true;
            using (Gil.Acquire())
            {
                Py.Exec("import atexit, sys\natexit._run_exitfuncs()\nfor s in (sys.stdout, sys.stderr):\n    try:\n        s.flush()\n    except (AttributeError, OSError, ValueError):\n        pass\n").Dispose();
            }
        }
    }

    /// <summary>On Python 3.12+ (sub-interpreters), starts the main interpreter without importing <c>site</c>
    /// (Py_NoSiteFlag) so that every sub-interpreter, which copies the main interpreter's configuration, skips it
    /// too (a few ms of each interpreter worker's start-up); <see cref="Bootstrap"/> then runs <c>site.main()</c> in
    /// the main interpreter, and sub-interpreters get its resulting <c>sys.path</c>. Returns whether it did.</summary>
    private static bool DeferSite(nint lib)
    {
        if (ParseVersion(Marshal.PtrToStringUTF8(CPython.Py_GetVersion()) ?? "") < new Version(3, 12)) return false;
        if (!NativeLibrary.TryGetExport(lib, "Py_NoSiteFlag", out var flag) || *(int*)flag != 0) return false;
        *(int*)flag = 1;
        return true;
    }

    private static void Bootstrap(PythonLocation location, IList<string> extraPaths, bool runSite)
    {
        using var gil = Gil.Acquire();
        using var globals = Py.Dict();
        globals.SetItem("exe", location.Executable);
        globals.SetItem("paths", location.SysPath.ToList());
        globals.SetItem("extra", extraPaths.ToList());
        globals.SetItem("run_site", runSite);
        Py.Exec("""
            import sys, site
            if run_site:
                site.main()  # deferred by DeferSite: what Py_InitializeEx would have done
            if exe:
                sys.executable = exe
            for p in paths:
                if p not in sys.path:
                    if p.endswith(('site-packages', 'dist-packages')):
                        site.addsitedir(p)
                    else:
                        sys.path.append(p)
            for p in extra:
                if p not in sys.path:
                    sys.path.append(p)
            if not getattr(sys, 'argv', None):
                sys.argv = ['']
            """, globals).Dispose();
    }

    /// <summary>The process's own symbol scope when it already runs an initialized CPython (Python loaded this
    /// assembly, e.g. through a Native AOT library and ctypes), else 0.</summary>
    internal static nint HostInterpreter()
    {
        nint self = Libc.OpenSelf();
        if (self == 0 || !NativeLibrary.TryGetExport(self, "Py_IsInitialized", out var isInitialized)) return 0;
        return ((delegate* unmanaged<int>)isInitialized)() != 0 ? self : 0;
    }

    private static void SetHome(nint lib, string? home)
    {
        if (home is null || !NativeLibrary.TryGetExport(lib, "Py_SetPythonHome", out var fn)) return;
        // wchar_t is UTF-32 on Linux; the buffer must outlive the interpreter, so it is never freed.
        var utf32 = System.Text.Encoding.UTF32.GetBytes(home + "\0");
        s_home = Marshal.AllocHGlobal(utf32.Length);
        Marshal.Copy(utf32, 0, s_home, utf32.Length);
        ((delegate* unmanaged<nint, void>)fn)(s_home);
    }

    private static Version ParseVersion(string text)
    {
        var head = new string(text.TakeWhile(c => char.IsDigit(c) || c == '.').ToArray());
        return Version.TryParse(head, out var v) ? v : new Version(0, 0);
    }

    private static InvalidOperationException NotInitialized()
        => new("Python is not initialized: call PythonRuntime.Initialize() first.");
}
