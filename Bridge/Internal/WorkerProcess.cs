using Bridge.Protocol;
using Bridge.Transport;

namespace Bridge.Internal;

/// <summary>The state of one worker process.</summary>
internal enum WorkerState
{
    /// <summary>Spawned, INIT sent, no HELLO yet: gets no tasks.</summary>
    Starting,
    /// <summary>HELLO received: gets tasks.</summary>
    Ready,
    /// <summary>STOP sent (maxtasksperchild used up, join): gets no more tasks.</summary>
    Retiring,
    /// <summary>Its result pipe ended (EOF or protocol error): being reaped; gets no tasks.</summary>
    Exiting,
    /// <summary>Exited and reaped.</summary>
    Dead,
}

/// <summary>
/// One worker process: its pid, its task pipe (never blocks the caller), and the one reader
/// thread that reads its result pipe, reaps it when the pipe ends, and reports to the pool.
/// State fields are guarded by the pool lock.
/// </summary>
internal sealed class WorkerProcess
{
    private readonly PoolCore _pool;
    private readonly int _resultFd;
    private readonly Thread _reader;

    public WorkerProcess(PoolCore pool, KindState kind, int id, SpawnedProcess p)
        : this(pool, kind, id, p.Pid, p.TaskFd, p.ResultFd, null, 0)
    {
    }

    /// <summary>A worker the host runs in this process (<paramref name="host"/> not null): no pid of its own, never signalled.</summary>
    public WorkerProcess(PoolCore pool, KindState kind, int id, int pid, int taskFd, int resultFd, IWorkerHost? host, long handle)
    {
        _pool = pool;
        Kind = kind;
        Id = id;
        Pid = pid;
        Host = host;
        Handle = handle;
        _resultFd = resultFd;
        string name = host is null ? $"{kind.Kind}-{pid}" : $"{kind.Kind}-interp-{id}";
        Tasks = new TaskPipe(taskFd, name);
        using (ExecutionContext.SuppressFlow())
        {
            _reader = new Thread(ReadLoop) { IsBackground = true, Name = host is null ? $"dotbridge-reader-{pid}" : $"dotbridge-reader-interp-{id}" };
        }
    }

    /// <summary>The host that runs this worker in-process (interpreter workers), or null for a worker process.</summary>
    public IWorkerHost? Host { get; }
    /// <summary>The host's handle of an in-process worker.</summary>
    public long Handle { get; }
    /// <summary>How messages name it: "worker process 123", or "interpreter worker 2 (in process 123)".</summary>
    public string Describe => Host is null ? $"worker process {Pid}" : $"interpreter worker {Id} (in process {Pid})";

    public KindState Kind { get; }
    public int Id { get; }
    public int Pid { get; }
    public TaskPipe Tasks { get; }
    public WorkerState State { get; set; } = WorkerState.Starting;
    /// <summary>The state it had when its result pipe ended.</summary>
    public WorkerState StateAtEof { get; set; } = WorkerState.Starting;
    /// <summary>Chunks in flight, by task id.</summary>
    public Dictionary<long, Chunk> InFlight { get; } = new();
    /// <summary>Chunks sent (the maxtasksperchild budget counts these).</summary>
    public int Sent { get; set; }
    /// <summary>Chunks completed.</summary>
    public int Done { get; set; }
    /// <summary>The FATAL frame's raw error map, if one came.</summary>
    public byte[]? Fatal { get; set; }
    /// <summary>Why the pool broke the connection (protocol error), if it did.</summary>
    public string? ProtocolError { get; set; }
    /// <summary>Exit code once reaped (negative: signal).</summary>
    public int? ExitCode { get; set; }
    /// <summary>Frames are batched here while the pool lock is held, then sent at once.</summary>
    public FrameWriter Batch { get; } = new(1024);
    public bool HasBatch => Batch.WrittenCount > 0;

    public void Start() => _reader.Start();

    /// <summary>The chunks whose TASK frames are in <see cref="Batch"/> (not yet handed to the pipe).</summary>
    public List<Chunk> BatchChunks { get; } = new();

    /// <summary>
    /// Sends the batched frames and resets the batch (pool lock held; never blocks). Returns false if the
    /// task pipe was already broken (the worker is dead or dying): then nothing of the batch reached it.
    /// </summary>
    public bool FlushBatch()
    {
        if (Batch.WrittenCount == 0)
            return true;
        bool sent = Tasks.Send(Batch.WrittenSpan);
        Batch.Reset();
        return sent;
    }

    /// <summary>Signals a worker process; an in-process worker cannot be signalled: its task pipe is closed and its host is asked to stop it (<see cref="IWorkerHost.Stop"/>).</summary>
    public void Signal(int sig)
    {
        if (State == WorkerState.Dead)
            return;
        if (Host is not null)
        {
            Tasks.Close();
            Host.Stop(Handle);
        }
        else
            Transport.Libc.Kill(Pid, sig);
    }

    private void ReadLoop()
    {
        var reader = new FdFrameReader(_resultFd, _pool.Options.MaxFrameBytes);
        string? error = null;
        try
        {
            while (reader.TryRead(out var frame))
            {
                error = _pool.OnFrame(this, in frame);
                if (error is not null)
                    break;
            }
        }
        catch (ProtocolException e)
        {
            error = "protocol error: " + e.Message;
        }
        catch (IOException e)
        {
            error = "result pipe failed: " + e.Message;
        }
        if (error is not null)
        {
            ProtocolError = error;
            if (Host is null)
                Transport.Libc.Kill(Pid, Transport.Libc.SIGKILL);
            else
                Tasks.Close(); // EOF for it; its next write fails on the closed result pipe
        }
        FdIO.CloseQuietly(_resultFd);
        _pool.OnWorkerEof(this);
        int? code = Reap();
        _pool.OnWorkerExit(this, code);
    }

    /// <summary>Reaps the child after its result pipe ended: wait up to 2 s for it to exit by itself, then SIGKILL.</summary>
    private int? Reap()
    {
        if (Host is not null)
            return Host.TakeExitCode(Handle); // reported by the host before it closed the result pipe
        long deadline = Environment.TickCount64 + 2000;
        int sleep = 0;
        while (true)
        {
            if (Spawner.TryWaitExit(Pid, out var code))
                return code;
            if (Environment.TickCount64 > deadline)
            {
                Transport.Libc.Kill(Pid, Transport.Libc.SIGKILL);
                return Spawner.WaitExit(Pid);
            }
            if (sleep < 10)
            {
                Thread.Sleep(0);
                sleep++;
            }
            else
            {
                Thread.Sleep(1);
            }
        }
    }
}

/// <summary>Per-kind scheduling state. Guarded by the pool lock.</summary>
internal sealed class KindState
{
    public KindState(WorkerKind kind) => Kind = kind;

    public WorkerKind Kind { get; }
    /// <summary>Undispatched chunks, FIFO across jobs (cancelled ones are skipped lazily).</summary>
    public Queue<Chunk> Queue { get; } = new();
    public List<WorkerProcess> Workers { get; } = new();
    public bool Started { get; set; }
    /// <summary>The raw error map when the kind cannot start (null: not broken).</summary>
    public byte[]? Broken { get; set; }
    public int StartFailures { get; set; }
    public int NextWorkerId { get; set; }
    /// <summary>Moving average of the workers' per-chunk time, µs (negative: none yet).</summary>
    public double AvgElapsedUs { get; set; } = -1;
    /// <summary>Chunks in flight per worker at most.</summary>
    public int Prefetch { get; set; } = 2;

    public void Observe(long elapsedUs)
    {
        double e = Math.Max(elapsedUs, 0);
        AvgElapsedUs = AvgElapsedUs < 0 ? e : 0.8 * AvgElapsedUs + 0.2 * e;
        Prefetch = (int)Math.Clamp(1 + 200.0 / Math.Max(AvgElapsedUs, 1.0), 1, 32);
    }
}
