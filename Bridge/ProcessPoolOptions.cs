namespace Bridge;

/// <summary>Options of a <see cref="ProcessPool"/>. Read once, when the pool is created.</summary>
/// <remarks>
/// A mutable settings bag: fill it on one thread, then pass it to
/// <see cref="ProcessPool(ProcessPoolOptions)"/>, which copies what it needs; later changes do not
/// affect the pool.
/// </remarks>
public sealed class ProcessPoolOptions
{
    /// <summary>
    /// The number of worker processes of each kind (Python, .NET); default
    /// <see cref="Environment.ProcessorCount"/>. Workers of a kind start on the first call of that
    /// kind, all at once (or at pool creation with <see cref="PrestartPython"/>/<see cref="PrestartDotNet"/>).
    /// </summary>
    public int? Processes { get; set; }

    /// <summary>
    /// The Python executable the Python workers run (<c>&lt;python&gt; -m dotbridge._worker</c>); it
    /// needs the <c>msgpack</c> package. Default: the environment variable <c>DOTBRIDGE_PYTHON</c>,
    /// else <c>python3</c> on <c>PATH</c>.
    /// </summary>
    public string? PythonExecutable { get; set; }

    /// <summary>
    /// Extra module search paths, prepended to the Python workers' <c>sys.path</c> (so
    /// <c>"mymodule:func"</c> finds <c>mymodule.py</c> in one of them). Relative paths are made
    /// absolute against the current directory when the pool is created.
    /// </summary>
    public IList<string> PythonPath { get; } = new List<string>();

    /// <summary>
    /// A callable every new worker runs once before its first task (stdlib <c>initializer</c>),
    /// with <see cref="InitArgs"/>. Its kind decides which workers run it; a worker whose
    /// initializer raises makes calls of that kind fail with <see cref="BrokenPoolException"/>.
    /// </summary>
    public Target? Initializer { get; set; }

    /// <summary>The initializer's positional arguments (converted as in CONVERSIONS.md).</summary>
    public IList<object?> InitArgs { get; } = new List<object?>();

    /// <summary>
    /// Retire a worker after it ran this many chunks (stdlib <c>maxtasksperchild</c>; with the
    /// default chunk size of <c>ApplyAsync</c> a chunk is one call) and start a fresh one;
    /// <see langword="null"/> (default): never.
    /// </summary>
    public int? MaxTasksPerChild { get; set; }

    /// <summary>
    /// The .NET worker's command line prefix (the pool appends <c>worker</c>). Default:
    /// the <c>Bridge</c> apphost beside Bridge.dll (<c>Path.Combine(AppContext.BaseDirectory,
    /// "Bridge")</c>); for a framework-dependent Bridge.dll without an apphost, use
    /// <c>["dotnet", "/path/Bridge.dll"]</c>.
    /// </summary>
    public IList<string> DotNetWorker { get; } = new List<string>();

    /// <summary>
    /// Extra environment variables for the worker processes (on top of this process's
    /// environment).
    /// </summary>
    public IDictionary<string, string> Environment { get; } = new Dictionary<string, string>();

    /// <summary>
    /// Where the Python workers run: <see cref="Bridge.PythonWorkers.Processes"/> (default: one process each, isolated),
    /// or <see cref="Bridge.PythonWorkers.Interpreters"/>: one sub-interpreter with its own GIL each, on its own thread
    /// inside this process (Python 3.12+, loaded with <see cref="InterpreterPython"/>). Same calls, scheduling and
    /// errors; see <see cref="InterpreterPool"/> for the limits (C extensions without sub-interpreter support fail to
    /// import; a crash in one ends this process). .NET workers are processes either way.
    /// </summary>
    public PythonWorkers PythonWorkers { get; set; }

    /// <summary>For <see cref="Bridge.PythonWorkers.Interpreters"/>: which Python to load into this process when none
    /// runs yet (<see cref="Bridge.Interop.PythonRuntime.Initialize"/>); it must be 3.12 or later. Ignored otherwise.</summary>
    public Bridge.Interop.PythonOptions? InterpreterPython { get; set; }

    /// <summary>Start the Python workers when the pool is created instead of on the first Python call (default false).</summary>
    public bool PrestartPython { get; set; }

    /// <summary>Start the .NET workers when the pool is created instead of on the first .NET call (default false).</summary>
    public bool PrestartDotNet { get; set; }
}
