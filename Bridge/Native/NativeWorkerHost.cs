using System.Collections.Concurrent;
using Bridge.Internal;

namespace Bridge.Native;

/// <summary>
/// Interpreter workers for a Python host (ABI.md "Interpreter workers"): the pool starts each Python
/// worker by calling the host's <c>interpreter_start</c> function pointer (from the options map); the
/// host runs the worker loop in a sub-interpreter on its own thread and reports the loop's exit code
/// with <c>db_worker_exited</c> before it closes the result pipe.
/// </summary>
internal sealed unsafe class NativeWorkerHost : IWorkerHost
{
    private static readonly ConcurrentDictionary<long, int> s_exitCodes = new();
    private readonly delegate* unmanaged[Cdecl]<int, int, int, long> _start;

    /// <summary>Wraps <c>int64 start(int worker_id, int task_read_fd, int result_write_fd)</c>.</summary>
    /// <exception cref="ArgumentException">A null function pointer.</exception>
    public NativeWorkerHost(long startFunction)
    {
        if (startFunction == 0)
            throw new ArgumentException("interpreter_start: null function pointer");
        _start = (delegate* unmanaged[Cdecl]<int, int, int, long>)(nint)startFunction;
    }

    /// <inheritdoc/>
    public long Start(int workerId, int taskReadFd, int resultWriteFd) => _start(workerId, taskReadFd, resultWriteFd);

    /// <inheritdoc/>
    /// <remarks>Nothing here: the Python host interrupts its busy workers itself after terminate (<c>interrupt_pool</c>).</remarks>
    public void Stop(long handle)
    {
    }

    /// <inheritdoc/>
    public int? TakeExitCode(long handle) => s_exitCodes.TryRemove(handle, out int code) ? code : null;

    /// <summary>The host's report (<c>db_worker_exited</c>): the worker with this handle ended with <paramref name="code"/>.</summary>
    public static void Exited(long handle, int code) => s_exitCodes[handle] = code;
}
