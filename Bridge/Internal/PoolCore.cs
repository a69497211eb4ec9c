using System.Diagnostics;
using Bridge.Protocol;

namespace Bridge.Internal;

/// <summary>
/// The process pool's scheduling core (ABI.md "Job model"): jobs of chunks, per-kind FIFO queues,
/// dispatch with adaptive prefetch, per-job result ordering, failfast, notifications, cancel,
/// supervision and respawn, maxtasksperchild, close/join/terminate. Both fronts (the C ABI in
/// <c>Bridge/Native</c> and the public <c>ProcessPool</c>) only translate to it.
/// </summary>
/// <remarks>
/// <para>Design notes: one lock (<see cref="_lock"/>) guards all scheduling state; nothing
/// blocking happens under it (task writes are non-blocking, see <see cref="Transport.TaskPipe"/>).
/// Each worker has one reader thread that decodes frames and reports them here
/// (<c>PoolCore.Dispatch.cs</c>). Waiters spin briefly on a volatile flag before blocking on the
/// lock's monitor, so a result that arrives within tens of microseconds costs no wake-up.</para>
/// <para>Thread-safe: every member may be called from any thread.</para>
/// </remarks>
internal sealed partial class PoolCore : IDisposable
{
    private const long SpinTicksDefault = 50; // µs; see SpinMicroseconds (env DOTBRIDGE_SPIN_US overrides)

    private readonly object _lock = new();
    private readonly Dictionary<long, CoreJob> _jobs = new();
    private readonly KindState[] _kinds = [new(WorkerKind.Python), new(WorkerKind.DotNet)];
    private readonly Queue<long> _notifications = new();
    private readonly byte[][] _initFrames = new byte[2][];
    private long _nextJobId;
    private long _nextTaskId;
    private int _waiters;
    private int _pendingChunks;
    private int _liveWorkers;
    private volatile PoolState _state = PoolState.Running;

    /// <summary>Creates the pool and starts the <see cref="PoolCoreOptions.Prestart"/> kinds' workers.</summary>
    /// <exception cref="ArgumentException">Bad options.</exception>
    public PoolCore(PoolCoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Processes < 1)
            ThrowHelper.BadArgument("Number of processes must be at least 1", nameof(options));
        if (options.MaxTasksPerChild is <= 0)
            ThrowHelper.BadArgument("maxtasksperchild must be a positive int or None", nameof(options));
        Options = options;
        if (int.TryParse(Environment.GetEnvironmentVariable("DOTBRIDGE_SPIN_US"), out int spin) && spin >= 0)
            SpinMicroseconds = spin;
        _initFrames[0] = BuildInit(WorkerKind.Python);
        _initFrames[1] = BuildInit(WorkerKind.DotNet);
        lock (_lock)
        {
            foreach (var k in options.Prestart)
                EnsureStarted(_kinds[(int)k]);
        }
    }

    /// <summary>The options the pool was created with.</summary>
    public PoolCoreOptions Options { get; }

    /// <summary>The current state.</summary>
    public PoolState State => _state;

    /// <summary>How long waits spin before blocking, µs (0 disables spinning).</summary>
    public int SpinMicroseconds { get; set; } = (int)SpinTicksDefault;

    // ---- jobs -------------------------------------------------------------------------------

    /// <summary>Submits a sealed job of <paramref name="chunks"/> (payload, call count). Returns its id.</summary>
    /// <exception cref="InvalidOperationException">The pool is not running.</exception>
    public long Submit(WorkerKind kind, TaskEncoding encoding, string? target, IReadOnlyList<(ReadOnlyMemory<byte> Payload, int Count)> chunks,
        bool failfast = false, bool notify = false, bool ordered = true)
    {
        lock (_lock)
        {
            var job = NewJobLocked(kind, encoding, target, failfast, notify, ordered);
            for (int i = 0; i < chunks.Count; i++)
                AddChunkLocked(job, chunks[i].Payload, chunks[i].Count);
            SealLocked(job);
            DispatchLocked(_kinds[(int)kind]);
            return job.Id;
        }
    }

    /// <summary>Submits a sealed job of one chunk (the <c>apply</c> fast path).</summary>
    /// <exception cref="InvalidOperationException">The pool is not running.</exception>
    public long SubmitOne(WorkerKind kind, TaskEncoding encoding, string? target, ReadOnlyMemory<byte> payload, int count,
        bool failfast = false, bool notify = false)
    {
        lock (_lock)
        {
            var job = NewJobLocked(kind, encoding, target, failfast, notify, true);
            AddChunkLocked(job, payload, count);
            SealLocked(job);
            DispatchLocked(_kinds[(int)kind]);
            return job.Id;
        }
    }

    /// <summary>Opens a job that grows with <see cref="AddChunk"/> until <see cref="Seal"/> (imap).</summary>
    /// <exception cref="InvalidOperationException">The pool is not running.</exception>
    public long OpenJob(WorkerKind kind, TaskEncoding encoding, string? target, bool ordered = true, bool notify = false, bool failfast = false)
    {
        lock (_lock)
            return NewJobLocked(kind, encoding, target, failfast, notify, ordered).Id;
    }

    /// <summary>Adds a chunk to an open job.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    /// <exception cref="InvalidOperationException">The job is sealed, or the pool was terminated.</exception>
    public void AddChunk(long jobId, ReadOnlyMemory<byte> payload, int count)
    {
        lock (_lock)
        {
            var job = GetJobLocked(jobId);
            if (job.Sealed)
                ThrowHelper.JobSealed(jobId);
            if (_state >= PoolState.Terminated)
                ThrowHelper.PoolNotRunning();
            AddChunkLocked(job, payload, count);
            DispatchLocked(_kinds[(int)job.Kind]);
        }
    }

    /// <summary>Seals an open job (no more chunks). Idempotent.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    public void Seal(long jobId)
    {
        lock (_lock)
            SealLocked(GetJobLocked(jobId));
    }

    /// <summary>Waits until the job is ready; false on timeout (<paramref name="timeout"/> null: forever).</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    public bool Wait(long jobId, TimeSpan? timeout)
    {
        CoreJob job;
        lock (_lock)
            job = GetJobLocked(jobId);
        if (job.IsReady || (timeout != TimeSpan.Zero && Spin(job)))
            return true;
        long deadline = Deadline(timeout);
        lock (_lock)
        {
            _waiters++;
            try
            {
                while (!job.IsReady)
                {
                    if (!WaitLocked(deadline))
                        return job.IsReady;
                }
                return true;
            }
            finally
            {
                _waiters--;
            }
        }
    }

    /// <summary>Whether the job is ready.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    public bool IsReady(long jobId)
    {
        lock (_lock)
            return GetJobLocked(jobId).IsReady;
    }

    /// <summary>(status, payload) of every chunk in chunk order (<see cref="ChunkStatus.Pending"/> for chunks without one). The job must be ready.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    /// <exception cref="InvalidOperationException">The job is not ready.</exception>
    public (int Status, ReadOnlyMemory<byte> Payload)[] Results(long jobId)
    {
        lock (_lock)
        {
            var job = GetJobLocked(jobId);
            if (!job.IsReady)
                ThrowHelper.JobNotReady(jobId);
            var r = new (int, ReadOnlyMemory<byte>)[job.Chunks.Count];
            for (int i = 0; i < r.Length; i++)
                r[i] = (job.Chunks[i].Status, job.Chunks[i].Result);
            return r;
        }
    }

    /// <summary>
    /// Appends to <paramref name="into"/> up to <paramref name="max"/> more results of the job that are
    /// already available (in the job's order), without waiting: lets a consumer take a burst of small
    /// results with one call after <see cref="Next"/> gave it the first.
    /// </summary>
    public void TakeAvailable(long jobId, int max, List<ChunkResult> into)
    {
        lock (_lock)
        {
            var job = GetJobLocked(jobId);
            for (int i = 0; i < max; i++)
            {
                if (!TryTakeLocked(job, out var r) || r is null)
                    return;
                into.Add(r.Value);
            }
        }
    }

    /// <summary>
    /// The next finished chunk: in chunk order for an ordered job, else in completion order.
    /// Returns true with <paramref name="result"/> set, or true with null when the sealed job has
    /// handed out all its chunks; false on timeout.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    public bool Next(long jobId, TimeSpan? timeout, out ChunkResult? result)
    {
        long deadline = -2;
        bool spun = false;
        lock (_lock)
        {
            var job = GetJobLocked(jobId);
            while (true)
            {
                if (TryTakeLocked(job, out result))
                    return true;
                if (!spun && SpinMicroseconds > 0 && timeout != TimeSpan.Zero)
                {
                    spun = true;
                    int before = job.Finished;
                    Monitor.Exit(_lock);
                    try
                    {
                        SpinUntil(() => job.Finished != before);
                    }
                    finally
                    {
                        Monitor.Enter(_lock);
                    }
                    continue;
                }
                if (deadline == -2)
                    deadline = Deadline(timeout);
                _waiters++;
                try
                {
                    if (!WaitLocked(deadline))
                        return TryTakeLocked(job, out result);
                }
                finally
                {
                    _waiters--;
                }
            }
        }
    }

    /// <summary>Async <see cref="Next"/>: the next finished chunk, or null when all were handed out.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (undispatched chunks are cancelled too).</exception>
    public async ValueTask<ChunkResult?> NextAsync(long jobId, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task progress;
            lock (_lock)
            {
                var job = GetJobLocked(jobId);
                if (TryTakeLocked(job, out var r))
                    return r;
                progress = job.GetProgressTask();
            }
            if (cancellationToken.CanBeCanceled)
            {
                try
                {
                    await progress.WaitAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    Cancel(jobId);
                    throw;
                }
            }
            else
            {
                await progress.ConfigureAwait(false);
            }
        }
    }

    /// <summary>Completes when the job is ready; cancelling the token cancels its undispatched chunks.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    public Task WhenReady(long jobId, CancellationToken cancellationToken = default)
    {
        Task t;
        lock (_lock)
            t = GetJobLocked(jobId).GetReadyTask();
        if (t.IsCompleted || !cancellationToken.CanBeCanceled)
            return t;
        return WithCancel(t, jobId, cancellationToken);
    }

    private async Task WithCancel(Task t, long jobId, CancellationToken cancellationToken)
    {
        try
        {
            await t.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            Cancel(jobId);
            throw;
        }
    }

    /// <summary>Cancels the job's undispatched chunks (status CANCELLED). True if no chunk had been dispatched.</summary>
    /// <exception cref="ArgumentException">Unknown job.</exception>
    public bool Cancel(long jobId)
    {
        lock (_lock)
        {
            var job = GetJobLocked(jobId);
            CancelLocked(job, "cancelled");
            return !job.AnyDispatched;
        }
    }

    /// <summary>Forgets the job: cancels its undispatched chunks and drops its buffers. Unknown ids are ignored.</summary>
    public void Release(long jobId)
    {
        lock (_lock)
        {
            if (!_jobs.Remove(jobId, out var job))
                return;
            CancelLocked(job, "released");
            job.Released = true;
            foreach (var c in job.Chunks)
            {
                c.Result = default;
                c.Payload = default;
            }
        }
    }

    /// <summary>
    /// The id of the next ready <c>notify</c> job: true with the id, true with null on timeout;
    /// false when the pool is terminated or disposed and no notification is left.
    /// </summary>
    public bool NextNotification(TimeSpan? timeout, out long? jobId)
    {
        long deadline = -2;
        lock (_lock)
        {
            while (true)
            {
                if (_notifications.TryDequeue(out long id))
                {
                    jobId = id;
                    return true;
                }
                if (_state >= PoolState.Terminated)
                {
                    jobId = null;
                    return false;
                }
                if (deadline == -2)
                    deadline = Deadline(timeout);
                _waiters++;
                try
                {
                    if (!WaitLocked(deadline))
                    {
                        jobId = _notifications.TryDequeue(out id) ? id : null;
                        return true;
                    }
                }
                finally
                {
                    _waiters--;
                }
            }
        }
    }

    // ---- pool ----------------------------------------------------------------------------------

    /// <summary>The stdlib's default chunk size: <c>chunksize, extra = divmod(n, processes*4); if extra: chunksize += 1</c>; 0 for n == 0.</summary>
    public int Chunksize(long items)
    {
        if (items <= 0)
            return 0;
        long d = (long)Options.Processes * 4;
        long c = items / d;
        if (items % d != 0)
            c++;
        return (int)Math.Min(c, int.MaxValue);
    }

    /// <summary>The current workers of a kind (Ready: it said HELLO and takes tasks).</summary>
    public (int Pid, bool Alive, int Tasks, bool Ready)[] Workers(WorkerKind kind)
    {
        lock (_lock)
        {
            var k = _kinds[(int)kind];
            var r = new (int, bool, int, bool)[k.Workers.Count];
            for (int i = 0; i < r.Length; i++)
            {
                var w = k.Workers[i];
                r[i] = (w.Pid, w.State is not (WorkerState.Dead or WorkerState.Exiting), w.Done, w.State == WorkerState.Ready);
            }
            return r;
        }
    }

    /// <summary>The host handles of the live in-process (interpreter) workers of a kind.</summary>
    public long[] HostedHandles(WorkerKind kind)
    {
        lock (_lock)
        {
            var r = new List<long>();
            foreach (var w in _kinds[(int)kind].Workers)
                if (w.Host is not null && w.State != WorkerState.Dead)
                    r.Add(w.Handle);
            return r.ToArray();
        }
    }

    /// <summary>Counts for diagnostics.</summary>
    public (PoolState State, int Jobs, int PendingChunks, int LiveWorkers, int QueuedPython, int QueuedDotNet, int PrefetchPython, int PrefetchDotNet) Info()
    {
        lock (_lock)
            return (_state, _jobs.Count, _pendingChunks, _liveWorkers, _kinds[0].Queue.Count, _kinds[1].Queue.Count, _kinds[0].Prefetch, _kinds[1].Prefetch);
    }

    /// <summary>No new jobs; queued work still runs. Idempotent; no effect after terminate.</summary>
    public void Close()
    {
        lock (_lock)
        {
            if (_state == PoolState.Running)
                _state = PoolState.Closing;
            SignalLocked();
        }
    }

    /// <summary>
    /// Waits until every chunk has a status, then stops all workers (STOP) and reaps them. False on
    /// timeout (call again to keep waiting).
    /// </summary>
    /// <exception cref="InvalidOperationException">The pool is still running (call close or terminate first).</exception>
    public bool Join(TimeSpan? timeout)
    {
        long deadline = Deadline(timeout);
        lock (_lock)
        {
            if (_state == PoolState.Running)
                ThrowHelper.JoinWhileRunning();
            _waiters++;
            try
            {
                while (_pendingChunks > 0)
                {
                    if (!WaitLocked(deadline))
                        return false;
                }
                StopAllLocked();
                while (_liveWorkers > 0)
                {
                    if (!WaitLocked(deadline))
                        return false;
                }
                return true;
            }
            finally
            {
                _waiters--;
            }
        }
    }

    /// <summary>
    /// Fails every unfinished chunk with CANCELLED "pool terminated", sends SIGTERM to all workers
    /// (SIGKILL after a 1 s grace) and waits for them to be reaped. Idempotent.
    /// </summary>
    public void Terminate()
    {
        lock (_lock)
        {
            if (_state < PoolState.Terminated)
                _state = PoolState.Terminated;
            TerminateLocked();
        }
        WaitWorkersGone(TimeSpan.FromSeconds(1), killAfter: true);
    }

    /// <summary>Terminates the pool and forgets all jobs. Idempotent.</summary>
    public void Dispose()
    {
        Terminate();
        lock (_lock)
        {
            _state = PoolState.Disposed;
            _jobs.Clear();
            SignalLocked();
        }
    }

    private void WaitWorkersGone(TimeSpan grace, bool killAfter)
    {
        long deadline = Deadline(grace);
        lock (_lock)
        {
            _waiters++;
            try
            {
                while (_liveWorkers > 0)
                {
                    if (!WaitLocked(deadline))
                        break;
                }
                if (_liveWorkers == 0 || !killAfter || LiveProcessesLocked() == 0)
                    return; // in-process (interpreter) workers cannot be killed: they end after their current task
                foreach (var k in _kinds)
                    foreach (var w in k.Workers)
                        w.Signal(Transport.Libc.SIGKILL);
                deadline = Deadline(TimeSpan.FromSeconds(5));
                while (LiveProcessesLocked() > 0)
                {
                    if (!WaitLocked(deadline))
                        break;
                }
            }
            finally
            {
                _waiters--;
            }
        }
    }

    private int LiveProcessesLocked()
    {
        int n = 0;
        foreach (var k in _kinds)
            foreach (var w in k.Workers)
                if (w.Host is null && w.State != WorkerState.Dead)
                    n++;
        return n;
    }

    // ---- waiting helpers ---------------------------------------------------------------------

    private static long Deadline(TimeSpan? timeout)
    {
        if (timeout is not { } t || t == Timeout.InfiniteTimeSpan || t.Ticks < 0)
            return long.MaxValue;
        return Stopwatch.GetTimestamp() + (long)(t.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>Waits on the pool monitor until signalled or the deadline (lock held). False once the deadline passed.</summary>
    private bool WaitLocked(long deadline)
    {
        if (deadline == long.MaxValue)
        {
            Monitor.Wait(_lock);
            return true;
        }
        long left = deadline - Stopwatch.GetTimestamp();
        if (left <= 0)
            return false;
        int ms = (int)Math.Min(int.MaxValue, Math.Max(1, left * 1000 / Stopwatch.Frequency));
        Monitor.Wait(_lock, ms);
        return true; // the caller re-checks its condition; the next call reports the deadline
    }

    private bool Spin(CoreJob job) => SpinUntil(() => job.IsReady);

    private bool SpinUntil(Func<bool> done)
    {
        int us = SpinMicroseconds;
        if (us <= 0 || Environment.ProcessorCount < 2)
            return done();
        long end = Stopwatch.GetTimestamp() + us * Stopwatch.Frequency / 1_000_000;
        while (true)
        {
            if (done())
                return true;
            if (Stopwatch.GetTimestamp() > end)
                return false;
            // Yield, don't burn: on 2 cores the reader thread that delivers the result needs one.
            Thread.Yield();
        }
    }

    private void SignalLocked()
    {
        if (_waiters > 0)
            Monitor.PulseAll(_lock);
    }
}
