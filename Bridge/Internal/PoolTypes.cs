using Bridge.Protocol;

namespace Bridge.Internal;

/// <summary>The two kinds of worker process (ABI.md "Job model").</summary>
internal enum WorkerKind
{
    /// <summary>Python workers (<c>python -m dotbridge._worker</c>).</summary>
    Python = 0,
    /// <summary>.NET workers (<c>Bridge worker</c>).</summary>
    DotNet = 1,
}

/// <summary>The pool's state; each transition happens in exactly one method of <see cref="PoolCore"/>.</summary>
internal enum PoolState
{
    /// <summary>Accepting jobs (initial).</summary>
    Running = 0,
    /// <summary><see cref="PoolCore.Close"/>: no new jobs; queued work still runs.</summary>
    Closing = 1,
    /// <summary><see cref="PoolCore.Terminate"/>: workers killed, unfinished chunks cancelled.</summary>
    Terminated = 2,
    /// <summary><see cref="PoolCore.Dispose"/>.</summary>
    Disposed = 3,
}

/// <summary>Chunk statuses (ABI.md "A chunk result has a status").</summary>
internal static class ChunkStatus
{
    /// <summary>No status yet (seen only in a failfast job that is ready early).</summary>
    public const int Pending = -1;
    /// <summary>RESULT frame.</summary>
    public const int Ok = 0;
    /// <summary>ERROR frame: payload is the raw <c>[error_map, pickled|nil]</c>.</summary>
    public const int Error = 1;
    /// <summary>The worker died or broke the protocol with the chunk in flight.</summary>
    public const int Crashed = 2;
    /// <summary>Cancelled before dispatch, or the pool was terminated.</summary>
    public const int Cancelled = 3;
    /// <summary>The worker kind cannot start.</summary>
    public const int Broken = 4;
}

/// <summary>One chunk's outcome as handed out by <see cref="PoolCore.Next"/>.</summary>
internal readonly record struct ChunkResult(int Index, int Status, ReadOnlyMemory<byte> Payload);

/// <summary>One chunk: one TASK frame (a batch of <see cref="Count"/> calls). Guarded by the pool lock.</summary>
internal sealed class Chunk
{
    public Chunk(CoreJob job, int index, ReadOnlyMemory<byte> payload, int count)
    {
        Job = job;
        Index = index;
        Payload = payload;
        Count = count;
    }

    public CoreJob Job { get; }
    public int Index { get; }
    /// <summary>The TASK payload; dropped once sent.</summary>
    public ReadOnlyMemory<byte> Payload { get; set; }
    public int Count { get; }
    public int Status { get; set; } = ChunkStatus.Pending;
    public ReadOnlyMemory<byte> Result { get; set; }
    public WorkerProcess? Worker { get; set; }
    public long TaskId { get; set; }
}

/// <summary>
/// A job (ABI.md "Job model"): one user call, made of chunks. Fields are guarded by the pool lock
/// except <see cref="IsReady"/> (volatile, read without the lock by spinning waiters).
/// </summary>
internal sealed class CoreJob
{
    private volatile bool _ready;
    private TaskCompletionSource? _readyTcs;
    private TaskCompletionSource? _progressTcs;

    public CoreJob(long id, WorkerKind kind, TaskEncoding encoding, string? target, bool failfast, bool notify, bool ordered)
    {
        Id = id;
        Kind = kind;
        Encoding = encoding;
        Target = target;
        Utf8Target = target is null ? null : System.Text.Encoding.UTF8.GetBytes(target);
        FailFast = failfast;
        Notify = notify;
        Ordered = ordered;
    }

    public long Id { get; }
    public WorkerKind Kind { get; }
    public TaskEncoding Encoding { get; }
    public string? Target { get; }
    public byte[]? Utf8Target { get; }
    public bool FailFast { get; }
    public bool Notify { get; }
    public bool Ordered { get; }
    public List<Chunk> Chunks { get; } = new();
    public bool Sealed { get; set; }
    public int Finished { get; set; }
    public bool AnyDispatched { get; set; }
    public bool AnyFailed { get; set; }
    public bool Released { get; set; }
    /// <summary>Ordered <c>next</c>: the next chunk index to hand out.</summary>
    public int NextIndex { get; set; }
    /// <summary>Unordered <c>next</c>: finished chunks not yet handed out, in completion order.</summary>
    public Queue<int> Completed { get; } = new();
    /// <summary>Chunks handed out by <c>next</c>.</summary>
    public int Handed { get; set; }

    /// <summary>Whether the job is ready (all chunks have a status, or a failfast job has a failure).</summary>
    public bool IsReady => _ready;

    /// <summary>Marks the job ready (pool lock held).</summary>
    public void SetReady()
    {
        _ready = true;
        _readyTcs?.TrySetResult();
    }

    /// <summary>Completes when the job is ready (pool lock held).</summary>
    public Task GetReadyTask()
    {
        if (_ready)
            return Task.CompletedTask;
        return (_readyTcs ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
    }

    /// <summary>Completes at the next chunk completion (pool lock held).</summary>
    public Task GetProgressTask() =>
        (_progressTcs ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    /// <summary>Signals async <c>next</c> waiters (pool lock held).</summary>
    public void SignalProgress()
    {
        var t = _progressTcs;
        _progressTcs = null;
        t?.TrySetResult();
    }
}
