using Bridge.Interop;

namespace Bridge;

/// <summary>Options of an <see cref="InterpreterPool"/>.</summary>
/// <remarks>Not thread-safe; the pool copies what it needs when it is created.</remarks>
public sealed class InterpreterPoolOptions
{
    /// <summary>The number of interpreter workers (sub-interpreters, one .NET thread each); default <see cref="Environment.ProcessorCount"/>.</summary>
    public int? Interpreters { get; set; }

    /// <summary>Directories appended to each interpreter's <c>sys.path</c> (after the main interpreter's own).</summary>
    public IList<string> PythonPath { get; } = new List<string>();

    /// <summary>Which Python to load when the process has not started one yet (<see cref="PythonRuntime.Initialize"/>);
    /// ignored once Python runs. It must be 3.12 or later (for example <c>LibraryPath = ".../libpython3.12.so"</c>).</summary>
    public PythonOptions? Python { get; set; }

    /// <summary>Python statements run once in every interpreter's <c>__main__</c> when it starts (the
    /// stdlib's <c>initializer</c>); functions defined there are targets <c>"__main__:name"</c>.</summary>
    public string? Initializer { get; set; }

    /// <summary>How long <see cref="InterpreterPool.Dispose"/> waits for running calls to return before it
    /// leaves their threads behind (default 10 s).</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Whether this pool's workers adopt the process's spare interpreters when some are ready (such a worker then
    /// starts in about a millisecond instead of about 8 ms), and leave new ones behind: fresh interpreters, made one after
    /// another on background threads once this pool has started, as many as this pool has workers (at most one per CPU),
    /// kept for the next pool in this process. A spare has never run user code (it has imported <c>os</c>); the adopting
    /// pool gives it its <c>sys.path</c> and initializer. Default true; false starts every worker afresh and makes no spare.</summary>
    public bool UseSpare { get; set; } = true;

    /// <summary>How long the constructor waits for every interpreter to start (default 60 s).</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
