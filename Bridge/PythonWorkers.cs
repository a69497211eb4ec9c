namespace Bridge;

/// <summary>Where a <see cref="ProcessPool"/>'s Python workers run (<see cref="ProcessPoolOptions.PythonWorkers"/>).</summary>
public enum PythonWorkers
{
    /// <summary>One Python process per worker (<c>python -m dotbridge._worker</c>): isolated, any extension module. The default.</summary>
    Processes,

    /// <summary>One CPython sub-interpreter with its own GIL per worker, each on its own thread inside this process
    /// (Python 3.12+): no process start-up, but C extensions without sub-interpreter support cannot be imported,
    /// and a crash in one worker ends the process.</summary>
    Interpreters,
}
