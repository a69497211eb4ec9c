namespace Bridge;

/// <summary>
/// The worker process running a call died (it exited, was killed by a signal, or broke the wire
/// protocol) before it answered.
/// </summary>
/// <remarks>
/// <para>Only the calls that were in flight on that worker fail; the pool replaces the worker and
/// goes on, so the next call succeeds. <see cref="ExitCode"/> is the worker's exit status when it
/// exited (<c>os._exit(3)</c> gives 3), <see cref="Signal"/> the signal number when a signal killed
/// it (<c>SIGKILL</c> gives 9, a segfault 11); <see cref="Pid"/> is its process id.</para>
/// <para>Immutable; thread-safe.</para>
/// </remarks>
public sealed class WorkerCrashedException : BrokenPoolException
{
    /// <summary>Creates an exception describing a dead worker.</summary>
    /// <param name="message">What happened, naming the pid and the exit code or signal.</param>
    /// <param name="pid">The worker's process id, or 0 when unknown.</param>
    /// <param name="exitCode">The raw exit code as <c>multiprocessing.Process.exitcode</c> reports it: negative for a signal; <see langword="null"/> when unknown.</param>
    public WorkerCrashedException(string message, int pid, int? exitCode)
        : base(message, "dotbridge.WorkerCrashedError", "")
    {
        Pid = pid;
        RawExitCode = exitCode;
    }

    /// <summary>The dead worker's process id (0 when unknown).</summary>
    public int Pid { get; }

    /// <summary>The worker's exit status when it exited normally; <see langword="null"/> when a signal killed it or it is unknown.</summary>
    public int? ExitCode => RawExitCode is >= 0 ? RawExitCode : null;

    /// <summary>The number of the signal that killed the worker (9 for SIGKILL, 11 for SIGSEGV); <see langword="null"/> when it exited.</summary>
    public int? Signal => RawExitCode is < 0 ? -RawExitCode : null;

    /// <summary>The exit code as Python's <c>Process.exitcode</c> reports it: the exit status, or minus the signal number.</summary>
    public int? RawExitCode { get; }
}
