using System.Buffers;
using Bridge.Protocol;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Internal;

// Jobs, dispatch and supervision: everything here runs with _lock held, except OnFrame and
// OnWorkerExit, which worker reader threads call.
internal sealed partial class PoolCore
{
    // ---- jobs (lock held) ----------------------------------------------------------------------

    private CoreJob NewJobLocked(WorkerKind kind, TaskEncoding encoding, string? target, bool failfast, bool notify, bool ordered)
    {
        if (_state != PoolState.Running)
        {
            if (_state == PoolState.Disposed)
                ThrowHelper.Disposed();
            ThrowHelper.PoolNotRunning();
        }
        if ((uint)kind > 1)
            ThrowHelper.BadArgument($"unknown worker kind {(int)kind}", nameof(kind));
        var job = new CoreJob(++_nextJobId, kind, encoding, target, failfast, notify, ordered);
        _jobs.Add(job.Id, job);
        return job;
    }

    private CoreJob GetJobLocked(long jobId)
    {
        if (!_jobs.TryGetValue(jobId, out var job))
        {
            if (_state == PoolState.Disposed)
                ThrowHelper.Disposed();
            ThrowHelper.UnknownJob(jobId);
        }
        return job;
    }

    private void AddChunkLocked(CoreJob job, ReadOnlyMemory<byte> payload, int count)
    {
        var chunk = new Chunk(job, job.Chunks.Count, payload, count);
        job.Chunks.Add(chunk);
        _pendingChunks++;
        var k = _kinds[(int)job.Kind];
        if (k.Broken is { } broken)
        {
            CompleteLocked(chunk, ChunkStatus.Broken, broken);
            return;
        }
        k.Queue.Enqueue(chunk);
        EnsureStarted(k);
    }

    private void SealLocked(CoreJob job)
    {
        if (job.Sealed)
            return;
        job.Sealed = true;
        CheckReadyLocked(job);
        job.SignalProgress();
        SignalLocked();
    }

    private void CancelLocked(CoreJob job, string why)
    {
        byte[]? map = null;
        foreach (var c in job.Chunks)
        {
            if (c.Status == ChunkStatus.Pending && c.Worker is null)
            {
                map ??= ErrorBytes("dotbridge.CancelledError", $"the task was {why} before it started");
                CompleteLocked(c, ChunkStatus.Cancelled, map);
            }
        }
    }

    /// <summary>Gives a chunk its status (once), updates the job, wakes waiters.</summary>
    private void CompleteLocked(Chunk chunk, int status, ReadOnlyMemory<byte> payload)
    {
        if (chunk.Status != ChunkStatus.Pending)
            return;
        chunk.Status = status;
        chunk.Payload = default;
        _pendingChunks--;
        var job = chunk.Job;
        if (!job.Released)
            chunk.Result = payload;
        job.Finished++;
        if (status != ChunkStatus.Ok)
            job.AnyFailed = true;
        if (!job.Ordered)
            job.Completed.Enqueue(chunk.Index);
        CheckReadyLocked(job);
        job.SignalProgress();
        SignalLocked();
    }

    private void CheckReadyLocked(CoreJob job)
    {
        if (job.IsReady)
            return;
        if ((job.Sealed && job.Finished == job.Chunks.Count) || (job.FailFast && job.AnyFailed))
        {
            job.SetReady();
            if (job.Notify && !job.Released)
                _notifications.Enqueue(job.Id);
        }
    }

    private static bool TryTakeLocked(CoreJob job, out ChunkResult? result)
    {
        if (job.Ordered)
        {
            if (job.NextIndex < job.Chunks.Count)
            {
                var c = job.Chunks[job.NextIndex];
                if (c.Status != ChunkStatus.Pending)
                {
                    job.NextIndex++;
                    job.Handed++;
                    result = new ChunkResult(c.Index, c.Status, c.Result);
                    return true;
                }
            }
        }
        else if (job.Completed.TryDequeue(out int i))
        {
            var c = job.Chunks[i];
            job.Handed++;
            result = new ChunkResult(c.Index, c.Status, c.Result);
            return true;
        }
        result = null;
        return job.Sealed && job.Handed == job.Chunks.Count;
    }

    // ---- dispatch (lock held) ------------------------------------------------------------------

    private void DispatchLocked(KindState k)
    {
        if (k.Queue.Count == 0)
            return;
        if (k.Broken is { } broken)
        {
            while (k.Queue.TryDequeue(out var c))
                CompleteLocked(c, ChunkStatus.Broken, broken);
            return;
        }
        int max = Options.MaxTasksPerChild ?? int.MaxValue;
        var workers = k.Workers;
        while (k.Queue.TryPeek(out var chunk))
        {
            if (chunk.Status != ChunkStatus.Pending)
            {
                k.Queue.Dequeue(); // cancelled while queued
                continue;
            }
            WorkerProcess? best = null;
            bool starting = false;
            for (int i = 0; i < workers.Count; i++)
            {
                var w = workers[i];
                starting |= w.State == WorkerState.Starting;
                if (w.State != WorkerState.Ready || w.InFlight.Count >= k.Prefetch || w.Sent >= max || w.Tasks.IsBroken)
                    continue;
                if (best is null || w.InFlight.Count < best.InFlight.Count)
                    best = w;
            }
            // Prefetch (a second task queued behind a running one) only when no worker of this kind is
            // still starting: otherwise a task could wait behind another on a busy worker while a fresh
            // worker is about to be free, and n tasks that wait for each other (a Barrier(n) on Pool(n))
            // would deadlock where the stdlib's shared queue runs them side by side.
            if (best is null || (starting && best.InFlight.Count > 0))
                break;
            k.Queue.Dequeue();
            var job = chunk.Job;
            chunk.TaskId = ++_nextTaskId;
            chunk.Worker = best;
            best.InFlight.Add(chunk.TaskId, chunk);
            best.Sent++;
            job.AnyDispatched = true;
            best.Batch.WriteTask(chunk.TaskId, job.Encoding, job.Utf8Target, chunk.Payload.Span);
            best.BatchChunks.Add(chunk);
        }
        List<Chunk>? undelivered = null;
        for (int i = 0; i < workers.Count; i++)
        {
            var w = workers[i];
            bool sent = w.FlushBatch();
            foreach (var c in w.BatchChunks)
            {
                if (sent)
                {
                    c.Payload = default; // delivered: the worker owns it now
                    continue;
                }
                // The worker died before its reader thread noticed (a SIGKILLed idle worker, say): its
                // pipe refused the frames, so it never saw these chunks. They go back to the front of the
                // queue for another worker: never failed for a crash they did not meet, never run twice.
                w.InFlight.Remove(c.TaskId);
                w.Sent--;
                c.Worker = null;
                c.TaskId = 0;
                (undelivered ??= new()).Add(c);
            }
            w.BatchChunks.Clear();
        }
        if (undelivered is not null)
        {
            var rest = k.Queue.ToArray();
            k.Queue.Clear();
            foreach (var c in undelivered)
                k.Queue.Enqueue(c);
            foreach (var c in rest)
                k.Queue.Enqueue(c);
            DispatchLocked(k); // the broken workers are skipped now
        }
    }

    private void EnsureStarted(KindState k)
    {
        if (k.Started || _state >= PoolState.Terminated)
            return;
        k.Started = true;
        for (int i = 0; i < Options.Processes && k.Broken is null; i++)
            SpawnLocked(k);
    }

    private void SpawnLocked(KindState k)
    {
        int id = ++k.NextWorkerId;
        if (k.Kind == WorkerKind.Python && Options.PythonHost is { } host)
        {
            StartHostedLocked(k, id, host);
            return;
        }
        var argv = new List<string>();
        var env = new Dictionary<string, string>(Options.Env) { ["DOTBRIDGE_FDS"] = "3,4", ["DOTBRIDGE_WORKER_ID"] = id.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (k.Kind == WorkerKind.Python)
        {
            argv.Add(Options.Python);
            argv.AddRange(Options.PythonArgs);
            argv.Add("-m");
            argv.Add("dotbridge._worker");
        }
        else
        {
            argv.AddRange(Options.DotNetWorker ?? DefaultDotNetWorker());
            // No diagnostics IPC server (a listening Unix socket in /tmp) in .NET workers
            // unless the user asked for one (tests/faults trust round, issue 5).
            if (Environment.GetEnvironmentVariable("DOTNET_EnableDiagnostics") is null)
                env.TryAdd("DOTNET_EnableDiagnostics", "0");
        }
        SpawnedProcess p;
        try
        {
            p = Spawner.Spawn(argv, env);
        }
        catch (SpawnException e)
        {
            BreakKindLocked(k, ErrorBytes("dotbridge.BrokenProcessPool", e.Message));
            return;
        }
        var w = new WorkerProcess(this, k, id, p);
        k.Workers.Add(w);
        _liveWorkers++;
        w.Tasks.Send(_initFrames[(int)k.Kind]);
        w.Start();
    }

    /// <summary>Asks the host to run a Python worker in-process (interpreter workers) over two fresh pipes.</summary>
    private void StartHostedLocked(KindState k, int id, IWorkerHost host)
    {
        (int TaskWrite, int TaskRead, int ResultRead, int ResultWrite) fds;
        try
        {
            fds = WorkerPipes.Create();
        }
        catch (SpawnException e)
        {
            BreakKindLocked(k, ErrorBytes("dotbridge.BrokenProcessPool", e.Message));
            return;
        }
        long handle;
        try
        {
            handle = host.Start(id, fds.TaskRead, fds.ResultWrite);
        }
        catch (Exception) // the host's failure breaks the kind (BROKEN), as a failed spawn does
        {
            handle = 0;
        }
        if (handle <= 0)
        {
            FdIO.CloseQuietly(fds.TaskRead);
            FdIO.CloseQuietly(fds.ResultWrite);
            FdIO.CloseQuietly(fds.TaskWrite);
            FdIO.CloseQuietly(fds.ResultRead);
            BreakKindLocked(k, ErrorBytes("dotbridge.BrokenProcessPool", "the host could not start an interpreter worker (its error went to stderr)"));
            return;
        }
        var w = new WorkerProcess(this, k, id, Environment.ProcessId, fds.TaskWrite, fds.ResultRead, host, handle);
        k.Workers.Add(w);
        _liveWorkers++;
        w.Tasks.Send(_initFrames[(int)k.Kind]);
        w.Start();
    }

    private static string[] DefaultDotNetWorker()
    {
        string dir = AppContext.BaseDirectory;
        string apphost = Path.Combine(dir, "Bridge");
        if (File.Exists(apphost))
            return [apphost, "worker"];
        return ["dotnet", Path.Combine(dir, "Bridge.dll"), "worker"];
    }

    private void BreakKindLocked(KindState k, byte[] errorMap)
    {
        k.Broken ??= errorMap;
        while (k.Queue.TryDequeue(out var c))
            CompleteLocked(c, ChunkStatus.Broken, k.Broken);
    }

    private void RetireIfDoneLocked(WorkerProcess w)
    {
        if (Options.MaxTasksPerChild is not { } max || w.State != WorkerState.Ready || w.Sent < max || w.InFlight.Count > 0)
            return;
        w.State = WorkerState.Retiring;
        using (var fw = new FrameWriter(16))
        {
            fw.WriteStop();
            w.Tasks.Send(fw.WrittenSpan);
        }
        if (_state == PoolState.Running || (_state == PoolState.Closing && w.Kind.Queue.Count > 0))
            SpawnLocked(w.Kind);
    }

    private void StopAllLocked()
    {
        using var fw = new FrameWriter(16);
        fw.WriteStop();
        foreach (var k in _kinds)
        {
            foreach (var w in k.Workers)
            {
                if (w.State is WorkerState.Ready or WorkerState.Starting)
                {
                    w.State = WorkerState.Retiring;
                    w.Tasks.Send(fw.WrittenSpan);
                }
            }
        }
    }

    private void TerminateLocked()
    {
        byte[]? map = null;
        foreach (var job in _jobs.Values)
        {
            foreach (var c in job.Chunks)
            {
                if (c.Status == ChunkStatus.Pending)
                {
                    map ??= ErrorBytes("dotbridge.CancelledError", "pool terminated");
                    c.Worker?.InFlight.Remove(c.TaskId);
                    CompleteLocked(c, ChunkStatus.Cancelled, map);
                }
            }
        }
        foreach (var k in _kinds)
        {
            k.Queue.Clear();
            foreach (var w in k.Workers)
            {
                if (w.State != WorkerState.Dead)
                {
                    w.State = WorkerState.Retiring;
                    w.Signal(Transport.Libc.SIGTERM);
                }
            }
        }
        SignalLocked();
    }

    // ---- reader threads --------------------------------------------------------------------------

    /// <summary>A frame from worker <paramref name="w"/>'s reader thread. Returns an error text to break the connection.</summary>
    internal string? OnFrame(WorkerProcess w, in Frame frame)
    {
        switch (frame.Kind)
        {
            case FrameKind.Result:
            case FrameKind.Error:
            {
                byte[] payload = frame.Payload.ToArray(); // copy outside the lock: the reader reuses its buffer
                lock (_lock)
                {
                    if (!w.InFlight.Remove(frame.TaskId, out var chunk))
                    {
                        // Terminated (chunks already cancelled) or an id we never sent.
                        return _state >= PoolState.Terminated ? null : $"result for unknown task id {frame.TaskId}";
                    }
                    w.Done++;
                    if (frame.Kind == FrameKind.Result)
                        w.Kind.Observe(frame.ElapsedUs);
                    CompleteLocked(chunk, frame.Kind == FrameKind.Result ? ChunkStatus.Ok : ChunkStatus.Error, payload);
                    RetireIfDoneLocked(w);
                    DispatchLocked(w.Kind);
                }
                return null;
            }
            case FrameKind.Hello:
                lock (_lock)
                {
                    if (w.State == WorkerState.Starting)
                    {
                        w.State = WorkerState.Ready;
                        w.Kind.StartFailures = 0;
                        DispatchLocked(w.Kind);
                    }
                }
                return null;
            case FrameKind.Fatal:
                lock (_lock)
                    w.Fatal = frame.Map.ToArray();
                return null; // the worker exits by itself; EOF follows
            default:
                return $"unexpected {frame.Kind} frame from a worker";
        }
    }

    /// <summary>The reader thread of <paramref name="w"/> saw its pipe end: no more tasks for it (it is reaped next).</summary>
    internal void OnWorkerEof(WorkerProcess w)
    {
        lock (_lock)
        {
            if (w.State is WorkerState.Exiting or WorkerState.Dead)
                return;
            w.StateAtEof = w.State;
            w.State = WorkerState.Exiting;
        }
    }

    /// <summary>The reader thread of <paramref name="w"/> saw its pipe end and reaped it.</summary>
    internal void OnWorkerExit(WorkerProcess w, int? exitCode)
    {
        lock (_lock)
        {
            var k = w.Kind;
            var was = w.State == WorkerState.Exiting ? w.StateAtEof : w.State;
            w.State = WorkerState.Dead;
            w.ExitCode = exitCode;
            w.Tasks.Close();
            k.Workers.Remove(w);
            _liveWorkers--;
            string how = exitCode is null ? "an unknown status" : exitCode < 0 ? $"signal {-exitCode}" : $"exit code {exitCode}";
            if (was == WorkerState.Starting && _state < PoolState.Terminated)
            {
                k.StartFailures++;
                if (w.Fatal is not null || k.StartFailures >= Options.MaxStartFailures)
                {
                    BreakKindLocked(k, w.Fatal ?? ErrorBytes("dotbridge.BrokenProcessPool",
                        $"{k.Kind} {w.Describe} exited with {how} before it started" + (w.ProtocolError is null ? "" : $" ({w.ProtocolError})"),
                        exitCode, w.Pid));
                }
            }
            if (w.InFlight.Count > 0)
            {
                string msg = $"{w.Describe} died with {how} while running a task";
                if (w.ProtocolError is not null)
                    msg = $"{w.Describe} broke the protocol ({w.ProtocolError}) and was killed ({how})";
                else if (w.Fatal is not null)
                    msg += $" (FATAL: {SafeMessage(w.Fatal)})";
                var map = ErrorBytes("dotbridge.WorkerCrashedError", msg, exitCode ?? 0, w.Pid);
                foreach (var c in w.InFlight.Values)
                    CompleteLocked(c, ChunkStatus.Crashed, map);
                w.InFlight.Clear();
            }
            bool replace = k.Broken is null && was != WorkerState.Retiring
                && (_state == PoolState.Running || (_state == PoolState.Closing && k.Queue.Count > 0));
            if (replace)
                SpawnLocked(k);
            else if (k.Broken is null && _state == PoolState.Closing && k.Queue.Count > 0 && k.Workers.Count == 0)
                SpawnLocked(k);
            DispatchLocked(k);
            SignalLocked();
        }
    }

    private static string SafeMessage(byte[] map)
    {
        try
        {
            var m = ErrorMap.Parse(map);
            return $"{m.Type}: {m.Message}";
        }
        catch (ProtocolException)
        {
            return "unreadable error map";
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    private static byte[] ErrorBytes(string type, string message, int? exitCode = null, int? pid = null) =>
        new ErrorMap { Type = type, Message = message, ExitCode = exitCode, Pid = pid }.ToBytes();

    private byte[] BuildInit(WorkerKind kind)
    {
        var buf = new ArrayBufferWriter<byte>(256);
        var w = new MessagePackWriter(buf);
        bool pythonInit = Options.Initializer is { } t && t.Contains(':');
        bool mine = Options.Initializer is not null && (kind == WorkerKind.Python) == pythonInit;
        int n = 3 + (kind == WorkerKind.Python ? 1 : 1) + (mine ? 2 : 0);
        w.WriteMapHeader(n);
        w.Write("sys_path");
        w.WriteArrayHeader(Options.SysPath.Count);
        foreach (var p in Options.SysPath)
            w.Write(p);
        w.Write("max_depth");
        w.Write(ProtocolLimits.MaxDepth);
        w.Write("assemblies");
        w.WriteArrayHeader(Options.Assemblies.Count);
        foreach (var a in Options.Assemblies)
            w.Write(a);
        w.Write("python_init");
        if (kind == WorkerKind.Python && Options.PythonInit is { } pi)
            w.Write(pi);
        else
            w.WriteNil();
        if (mine)
        {
            w.Write("initializer");
            w.Write(Options.Initializer);
            w.Write("initargs");
            if (Options.InitArgs is { Length: > 0 } ia)
                w.WriteRaw(ia);
            else
                w.WriteArrayHeader(0);
        }
        w.Flush();
        using var fw = new FrameWriter(buf.WrittenCount + 64);
        fw.WriteInit(buf.WrittenSpan);
        return fw.WrittenSpan.ToArray();
    }
}
