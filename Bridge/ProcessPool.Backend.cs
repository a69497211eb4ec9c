namespace Bridge;

// Design notes: the seam between the typed front (ProcessPool) and the scheduling core. ProcessPool
// only needs ABI.md's job model: submit a job of chunks, wait until it is ready or take its
// chunks one by one, cancel what was not dispatched, release it. ProcessPool.PoolCore.cs adapts
// Bridge.Internal.PoolCore to it; tests may plug in a fake (ProcessPool(PoolBackend, int)).

/// <summary>The scheduling core as <see cref="ProcessPool"/> sees it (ABI.md "Job model").</summary>
internal abstract class PoolBackend : IDisposable
{
    /// <summary>Submits a job of MSGPACK chunks (<c>(payload, count)</c>) for <paramref name="kind"/> workers.</summary>
    /// <param name="kind">Which workers run it.</param>
    /// <param name="target">The TASK frame's target.</param>
    /// <param name="chunks">The chunks, in call order.</param>
    /// <param name="failfast">Ready as soon as one chunk fails.</param>
    /// <param name="ordered">Whether <see cref="PoolJob.NextAsync"/> hands chunks out in order (else in completion order).</param>
    public abstract PoolJob Submit(TargetKind kind, string target, IReadOnlyList<(byte[] Payload, int Count)> chunks, bool failfast, bool ordered);

    /// <summary>Opens a job that grows with <see cref="PoolJob.AddChunk"/> until <see cref="PoolJob.Seal"/> (imap).</summary>
    public abstract PoolJob Open(TargetKind kind, string target, bool ordered);

    /// <summary>The stdlib's default chunk size for <paramref name="items"/> items.</summary>
    public abstract int Chunksize(int items);

    /// <summary>Terminates the workers; every unfinished chunk gets status CANCELLED.</summary>
    public abstract void Dispose();
}

/// <summary>One submitted job.</summary>
internal abstract class PoolJob
{
    /// <summary>Status of a chunk that has none yet (only seen in a failfast job that is ready early).</summary>
    public const int Pending = -1;

    /// <summary>Whether the job was submitted failfast.</summary>
    public abstract bool FailFast { get; }

    /// <summary>Adds a chunk to an open job.</summary>
    public abstract void AddChunk(byte[] payload, int count);

    /// <summary>Seals an open job: no more chunks. Idempotent.</summary>
    public abstract void Seal();

    /// <summary>Completes when the job is ready (all chunks have a status, or a failfast job has a failure).</summary>
    public abstract Task WhenReady { get; }

    /// <summary>Blocks until the job is ready or <paramref name="timeout"/> passes (null: no limit); false on timeout.</summary>
    public abstract bool Wait(TimeSpan? timeout);

    /// <summary>(status, payload) of every chunk in chunk order; <see cref="Pending"/> for chunks without status. Only once ready.</summary>
    public abstract IReadOnlyList<(int Status, ReadOnlyMemory<byte> Payload)> Results();

    /// <summary>The next finished chunk (in order for an ordered job), or <see langword="null"/> when all were handed out.</summary>
    public abstract ValueTask<(int Index, int Status, ReadOnlyMemory<byte> Payload)?> NextAsync(CancellationToken cancellationToken);

    /// <summary>The caller is done with the job: cancel its undispatched chunks and release it once the core is done. Idempotent.</summary>
    public abstract void Abandon();
}
