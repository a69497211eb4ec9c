using System.Collections.Concurrent;
using Bridge.Internal;
using Bridge.Interop.SubInterpreters;
using Bridge.Transport;

namespace Bridge.Workers;

/// <summary>
/// Interpreter workers for a C# program: the <see cref="IWorkerHost"/> the pool core calls instead of spawning a
/// Python process. Each worker is one background thread that owns one sub-interpreter (own GIL) and runs
/// <see cref="InterpreterWorker"/>'s frame loop over the two pipes the core hands it; the core schedules, supervises
/// and maps errors exactly as for process workers (the host of a Python program is <c>dotbridge.interpreters</c>).
/// </summary>
/// <remarks>
/// <para>A worker adopts the process's spare interpreter when one is ready (<see cref="InterpreterPool.Spare"/>),
/// else creates one. Its thread reports the loop's exit code, ends the interpreter, then closes the result pipe
/// (the core's end-of-worker signal); a worker whose interpreter cannot be created exits with code 1 at once.</para>
/// <para><see cref="Stop"/> (the core terminates) raises <c>SystemExit</c> in a worker still running Python code, so
/// it ends at its next bytecode instead of when its call returns. <see cref="Join"/> waits for the threads.</para>
/// </remarks>
internal sealed class InterpreterWorkerHost : IWorkerHost
{
    private readonly List<string> _sysPath;
    private readonly string? _executable;
    private readonly string? _initCode;
    private readonly bool _useSpare;
    private readonly ConcurrentDictionary<long, int> _exitCodes = new();
    private readonly ConcurrentDictionary<long, Worker> _workers = new();
    private readonly List<Task> _started = [];
    private long _nextHandle;
    private ManualResetEventSlim? _hold;

    /// <param name="sysPath">Every interpreter's <c>sys.path</c> (the core's INIT prepends the pool's own paths).</param>
    /// <param name="executable">Their <c>sys.executable</c>.</param>
    /// <param name="initCode">Python statements each runs in <c>__main__</c> after INIT (InterpreterPoolOptions.Initializer), or null.</param>
    /// <param name="useSpare">Adopt the process's spare interpreter when one is ready.</param>
    public InterpreterWorkerHost(List<string> sysPath, string? executable, string? initCode, bool useSpare)
    {
        _sysPath = sysPath;
        _executable = executable;
        _initCode = initCode;
        _useSpare = useSpare;
    }

    /// <summary>One task per worker started while starts were held (<see cref="HoldStarts"/>: a pool's prestart), in
    /// start order: completes when the worker has run INIT (and the init code), or fails (<see cref="InitFailedException"/>
    /// with the error map, or why the interpreter could not be made). Later workers (replacements) are not listed.</summary>
    public Task[] Started
    {
        get
        {
            lock (_started) return [.. _started];
        }
    }

    /// <summary>The workers' <c>sys.executable</c>.</summary>
    public string? Executable => _executable;

    /// <summary>The worker threads still alive.</summary>
    public int AliveWorkers => _workers.Values.Count(w => w.Thread.IsAlive);

    /// <inheritdoc/>
    public long Start(int workerId, int taskReadFd, int resultWriteFd)
    {
        long handle = Interlocked.Increment(ref _nextHandle);
        foreach (var (h, old) in _workers)
        {
            if (!old.Thread.IsAlive && old.Thread.ThreadState != ThreadState.Unstarted) _workers.TryRemove(h, out _);
        }
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (_hold is not null)
        {
            lock (_started) _started.Add(ready.Task);
        }
        if (_useSpare && InterpreterPool.Spare.TryTake() is { } spare)
        {
            var adopted = new Worker(handle, spare.Thread);
            _workers[handle] = adopted;
            spare.Assign(interp => Run(adopted, interp, adopt: true, taskReadFd, resultWriteFd, ready));
            return handle;
        }
        Worker? worker = null;
        var gate = _hold;
        var thread = new Thread(() =>
        {
            gate?.Wait();
            Run(worker!, null, adopt: false, taskReadFd, resultWriteFd, ready);
        })
        {
            IsBackground = true,
            Name = $"dotbridge interpreter worker {workerId}",
        };
        worker = new Worker(handle, thread);
        _workers[handle] = worker;
        using (ExecutionContext.SuppressFlow()) thread.Start();
        return handle;
    }

    /// <summary>Until the result is disposed, workers started here wait before creating their interpreters; then
    /// they all go at once. For a batch (a pool's prestart): starting a thread while an earlier one computes returns
    /// late (the starter waits in that busy CPU's run queue, 2-4 ms), so unheld the creations would be staggered
    /// instead of overlapping (Interop/SubInterpreters/README.md "Two creations at once").</summary>
    /// <returns>Opens the gate when disposed.</returns>
    public IDisposable HoldStarts()
    {
        var gate = new ManualResetEventSlim(false);
        _hold = gate;
        return new Opener(this, gate);
    }

    private sealed class Opener(InterpreterWorkerHost host, ManualResetEventSlim gate) : IDisposable
    {
        public void Dispose()
        {
            Interlocked.CompareExchange(ref host._hold, null, gate);
            gate.Set(); // not disposed: a thread may still be on its way to Wait()
        }
    }

    /// <inheritdoc/>
    public int? TakeExitCode(long handle) => _exitCodes.TryRemove(handle, out int code) ? code : null;

    /// <inheritdoc/>
    public void Stop(long handle)
    {
        if (_workers.TryGetValue(handle, out var w) && w.Interpreter is { } interp)
        {
            // Off the core's lock: attaching to the worker's interpreter waits for its GIL (a switch interval).
            ThreadPool.UnsafeQueueUserWorkItem(static i => i.Interrupt(), interp, preferLocal: false);
        }
    }

    private void Run(Worker worker, SubInterpreter? interp, bool adopt, int taskReadFd, int resultWriteFd, TaskCompletionSource ready)
    {
        int code = FrameWorker.ExitInitFailed;
        try
        {
            try
            {
                interp ??= SubInterpreter.Create(_sysPath, _executable);
                if (adopt)
                {
                    object? error = interp.Call("__main__:_db_set_path", [_sysPath.Cast<object?>().ToArray(), _executable], out bool raised);
                    if (raised) throw new InitFailedException(error);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or PlatformNotSupportedException or InitFailedException)
            {
                ready.TrySetException(e);
                // FATAL before EOF, as a process worker that cannot start: the kind is BROKEN with the reason
                // instead of being restarted over and over.
                try
                {
                    using var fatal = new Protocol.FrameWriter(512);
                    fatal.WriteFatal(WorkerErrors.Plain("builtins.RuntimeError", "an interpreter worker could not start: " + e.Message, "target", null));
                    FdIO.WriteAll(resultWriteFd, fatal.WrittenSpan);
                }
                catch (IOException)
                {
                    // The pool is gone already.
                }
                return;
            }
            worker.Interpreter = interp;
            using var loop = new InterpreterWorker(taskReadFd, resultWriteFd, interp, _initCode, error =>
            {
                if (error is null) ready.TrySetResult();
                else ready.TrySetException(new InitFailedException(error));
            });
            code = loop.Serve();
            ready.TrySetException(new InitFailedException(null)); // the loop ended before INIT (the pool is gone)
        }
        finally
        {
            worker.Interpreter = null;
            _exitCodes[worker.Handle] = code;
            FdIO.CloseQuietly(taskReadFd);
            try
            {
                interp?.Dispose();
            }
            finally
            {
                FdIO.CloseQuietly(resultWriteFd); // the core sees EOF: this worker is gone
            }
        }
    }

    /// <summary>Waits up to <paramref name="timeout"/> for every worker thread to end (a thread still running Python
    /// code then is left behind: it ends its interpreter when its call returns).</summary>
    public void Join(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        foreach (var w in _workers.Values)
        {
            if (w.Thread == Thread.CurrentThread || !w.Thread.IsAlive) continue;
            var left = deadline - DateTime.UtcNow;
            w.Thread.Join(left > TimeSpan.Zero ? left : TimeSpan.Zero);
        }
    }

    private sealed class Worker(long handle, Thread thread)
    {
        public long Handle { get; } = handle;
        public Thread Thread { get; } = thread;
        public volatile SubInterpreter? Interpreter;
    }
}

/// <summary>An interpreter worker's start failed: <see cref="Error"/> is the sub-interpreter's error map, or null.</summary>
internal sealed class InitFailedException(object? error)
    : Exception(error is Dictionary<object, object?> map ? $"{map.GetValueOrDefault("type")}: {map.GetValueOrDefault("message")}" : "the interpreter worker ended before it started")
{
    /// <summary>The error map, or null.</summary>
    public object? Error { get; } = error;
}
