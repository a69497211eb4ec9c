namespace Bridge.Internal;

/// <summary>The options of a <see cref="PoolCore"/> (ABI.md: the C ABI's options map, the public API's ProcessPoolOptions).</summary>
internal sealed class PoolCoreOptions
{
    /// <summary>Workers per kind (default: the processor count).</summary>
    public int Processes { get; set; } = Environment.ProcessorCount;
    /// <summary>The Python executable for Python workers.</summary>
    public string Python { get; set; } = "python3";
    /// <summary>Arguments between the executable and <c>-m dotbridge._worker</c>.</summary>
    public IReadOnlyList<string> PythonArgs { get; set; } = [];
    /// <summary>INIT <c>python_init</c>: opaque pickle from the Python client.</summary>
    public byte[]? PythonInit { get; set; }
    /// <summary>INIT <c>sys_path</c>.</summary>
    public IReadOnlyList<string> SysPath { get; set; } = [];
    /// <summary>argv prefix of a .NET worker (null: <c>Bridge worker</c> next to this assembly).</summary>
    public IReadOnlyList<string>? DotNetWorker { get; set; }
    /// <summary>Chunks a worker runs before it is replaced (null: unlimited).</summary>
    public int? MaxTasksPerChild { get; set; }
    /// <summary>Kinds started at pool creation.</summary>
    public IReadOnlyList<WorkerKind> Prestart { get; set; } = [];
    /// <summary>Environment overrides for workers.</summary>
    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();
    /// <summary>Largest frame body accepted from a worker.</summary>
    public int MaxFrameBytes { get; set; } = Protocol.ProtocolLimits.DefaultMaxFrameBytes;
    /// <summary>Msgpack-mode initializer target: a Python target (<c>module:qualname</c>) goes to Python workers, anything else to .NET workers.</summary>
    public string? Initializer { get; set; }
    /// <summary>Its positional args: a packed MessagePack array (null: none).</summary>
    public byte[]? InitArgs { get; set; }
    /// <summary>INIT <c>assemblies</c> for .NET workers.</summary>
    public IReadOnlyList<string> Assemblies { get; set; } = [];
    /// <summary>Consecutive start failures (exit before HELLO) of a kind before it is BROKEN.</summary>
    public int MaxStartFailures { get; set; } = 3;
    /// <summary>Starts Python workers in-process (interpreter workers) instead of spawning processes (null: spawn).</summary>
    public IWorkerHost? PythonHost { get; set; }
}
