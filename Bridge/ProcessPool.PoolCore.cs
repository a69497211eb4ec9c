namespace Bridge;

// The adapter from Bridge.Internal.PoolCore to PoolBackend (ProcessPool.Backend.cs).
public sealed partial class ProcessPool
{
    /// <summary>The Python worker package beside Bridge.dll (Bridge.csproj copies python/dotbridge/*.py there).</summary>
    internal static string BundledPythonDirectory => Path.Combine(AppContext.BaseDirectory, "python");

    /// <summary>The default .NET worker: the Bridge apphost beside Bridge.dll.</summary>
    internal static string DefaultDotNetWorker => Path.Combine(AppContext.BaseDirectory, "Bridge");

    private static PoolBackend CreateCore(ProcessPoolOptions options, int processes, string python) =>
        throw new PlatformNotSupportedException("Bridge.Internal.PoolCore has not landed yet.");
}
