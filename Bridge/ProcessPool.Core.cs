namespace Bridge;

public sealed partial class ProcessPool
{
    private readonly PoolBackend _core;

    /// <summary>A pool over a given backend (tests plug in a fake core).</summary>
    internal ProcessPool(PoolBackend core, int processes, string pythonExecutable = "python3")
    {
        ArgumentNullException.ThrowIfNull(core);
        _core = core;
        Processes = processes;
        PythonExecutable = pythonExecutable;
    }
}
