using System.Buffers;
using Bridge.Internal;
using Bridge.Protocol;
using Bridge.Tests.Support;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Tests;

/// <summary>PoolCore against <see cref="FakeWorker"/> processes (no real worker needed).</summary>
public class PoolCoreTests
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(30);
    private readonly List<PoolCore> _pools = new();

    [SetUp]
    public void RequireFakeWorker()
    {
        if (!FakeWorker.Available)
            Assert.Ignore("Debian's /usr/bin/python3 with msgpack is needed for the fake worker");
    }

    [TearDown]
    public void DisposePools()
    {
        foreach (var p in _pools)
        {
            var pids = p.Workers(WorkerKind.Python).Select(w => w.Pid).ToArray();
            p.Dispose();
            foreach (int pid in pids)
                Assert.That(Libc.Kill(pid, 0), Is.EqualTo(-1), $"worker {pid} outlived Dispose");
        }
        _pools.Clear();
    }

    private PoolCore Make(int processes = 2, string? init = null, int? maxTasksPerChild = null, bool prestart = true)
    {
        var o = FakeWorker.Options(processes, init, maxTasksPerChild);
        if (prestart)
            o.Prestart = [WorkerKind.Python];
        var p = new PoolCore(o);
        _pools.Add(p);
        return p;
    }

    private delegate void PackAction(ref MessagePackWriter w);

    private static byte[] Pack(PackAction a)
    {
        var buf = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buf);
        a(ref w);
        w.Flush();
        return buf.WrittenSpan.ToArray();
    }

    /// <summary>A chunk payload of one call <c>[mode, arg]</c>.</summary>
    private static byte[] Call(string mode, long arg = 0) => Pack((ref MessagePackWriter w) =>
    {
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(2);
        w.Write(mode);
        w.Write(arg);
    });

    private static (ReadOnlyMemory<byte>, int) Chunk(string mode, long arg = 0) => (Call(mode, arg), 1);

    private static string Json(ReadOnlyMemory<byte> m) => MessagePackSerializer.ConvertToJson(m);

    private static ErrorMap Err(ReadOnlyMemory<byte> m) => ErrorMap.Parse(m);

    private static void WaitReady(PoolCore p, int n)
    {
        var end = DateTime.UtcNow + T;
        while (p.Workers(WorkerKind.Python).Count(w => w.Ready) < n)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(end), "workers did not start");
            Thread.Sleep(10);
        }
    }

    [Test]
    public void Results_come_back_in_chunk_order()
    {
        var p = Make();
        var chunks = Enumerable.Range(0, 40).Select(i => Chunk("echo", i)).ToArray();
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", chunks);
        Assert.That(p.Wait(job, T), Is.True);
        var r = p.Results(job);
        Assert.That(r.Select(x => x.Status), Is.All.EqualTo(ChunkStatus.Ok));
        Assert.That(r.Select(x => Json(x.Payload)), Is.EqualTo(Enumerable.Range(0, 40).Select(i => $"[[\"echo\",{i}]]")));
    }

    [Test]
    public void Next_hands_out_an_open_job_in_order_then_ends()
    {
        var p = Make();
        long job = p.OpenJob(WorkerKind.Python, TaskEncoding.MsgPack, "t");
        for (int i = 0; i < 5; i++)
            p.AddChunk(job, Call("echo", i), 1);
        p.Seal(job);
        for (int i = 0; i < 5; i++)
        {
            Assert.That(p.Next(job, T, out var c), Is.True);
            Assert.That((c!.Value.Index, c.Value.Status), Is.EqualTo((i, ChunkStatus.Ok)));
        }
        Assert.That(p.Next(job, T, out var end), Is.True);
        Assert.That(end, Is.Null);
    }

    [Test]
    public async Task NextAsync_and_WhenReady_complete()
    {
        var p = Make();
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("sleep", 0), Chunk("echo", 1)], ordered: false);
        using var cts = new CancellationTokenSource(T);
        await p.WhenReady(job, cts.Token);
        var seen = new List<int>();
        while (await p.NextAsync(job, cts.Token) is { } c)
            seen.Add(c.Index);
        Assert.That(seen, Is.EquivalentTo(new[] { 0, 1 }));
    }

    [Test]
    public void Failfast_job_is_ready_at_the_first_failure()
    {
        var p = Make(processes: 1);
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("fail"), Chunk("sleep", 2)], failfast: true);
        Assert.That(p.Wait(job, TimeSpan.FromSeconds(1.5)), Is.True, "failfast must not wait for the slow chunk");
        var r = p.Results(job);
        Assert.That(r[0].Status, Is.EqualTo(ChunkStatus.Error));
        Assert.That(Json(r[0].Payload), Does.Contain("failed on purpose"));
        Assert.That(r[1].Status, Is.EqualTo(ChunkStatus.Pending));
    }

    [Test]
    public void Wait_times_out_and_next_times_out()
    {
        var p = Make(processes: 1);
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("sleep", 1)]);
        Assert.That(p.Wait(job, TimeSpan.FromMilliseconds(50)), Is.False);
        Assert.That(p.Next(job, TimeSpan.FromMilliseconds(50), out _), Is.False);
        Assert.That(p.Wait(job, T), Is.True);
    }

    [Test]
    public void Cancel_fails_only_undispatched_chunks()
    {
        var p = Make(processes: 1);
        WaitReady(p, 1);
        long busy = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("sleep", 1), Chunk("sleep", 1), Chunk("sleep", 1)]);
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("echo")]);
        Assert.That(p.Cancel(job), Is.True);
        Assert.That(p.Wait(job, TimeSpan.FromSeconds(1)), Is.True);
        Assert.That(p.Results(job)[0].Status, Is.EqualTo(ChunkStatus.Cancelled));
        Assert.That(p.Cancel(busy), Is.False, "its first chunks were dispatched");
        Assert.That(p.Wait(busy, T), Is.True);
        var statuses = p.Results(busy).Select(r => r.Status).ToArray();
        Assert.That(statuses[0], Is.EqualTo(ChunkStatus.Ok));
        Assert.That(statuses, Has.Some.EqualTo(ChunkStatus.Cancelled));
    }

    [Test]
    public void Maxtasksperchild_replaces_workers()
    {
        var p = Make(processes: 1, maxTasksPerChild: 2);
        var pids = new HashSet<string>();
        for (int i = 0; i < 6; i++)
        {
            long job = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("pid"), 1);
            Assert.That(p.Wait(job, T), Is.True);
            var r = p.Results(job)[0];
            Assert.That(r.Status, Is.EqualTo(ChunkStatus.Ok));
            pids.Add(Json(r.Payload));
            p.Release(job);
        }
        Assert.That(pids, Has.Count.EqualTo(3));
    }

    [Test]
    public void Killed_worker_fails_only_its_in_flight_chunks_and_the_pool_goes_on()
    {
        var p = Make(processes: 2);
        WaitReady(p, 2);
        long hang = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("hang"), 1);
        Thread.Sleep(100);
        // The least busy worker gets the next chunk: the one that is not hanging.
        long probe = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("pid"), 1);
        Assert.That(p.Wait(probe, T), Is.True);
        int healthy = int.Parse(Json(p.Results(probe)[0].Payload).Trim('[', ']'), System.Globalization.CultureInfo.InvariantCulture);
        int victim = p.Workers(WorkerKind.Python).Single(w => w.Pid != healthy).Pid;
        long other = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("sleep", 1), 1);
        Thread.Sleep(100);
        Assert.That(Libc.Kill(victim, Libc.SIGKILL), Is.EqualTo(0));
        Assert.That(p.Wait(hang, T), Is.True);
        var crash = p.Results(hang)[0];
        Assert.That(crash.Status, Is.EqualTo(ChunkStatus.Crashed));
        var map = Err(crash.Payload);
        Assert.That((map.Type, map.ExitCode, map.Pid), Is.EqualTo(("dotbridge.WorkerCrashedError", (int?)-9, (int?)victim)));
        Assert.That(map.Message, Does.Contain("signal 9"));
        Assert.That(p.Wait(other, T), Is.True);
        Assert.That(p.Results(other)[0].Status, Is.EqualTo(ChunkStatus.Ok), "the other worker's chunk is unaffected");
        long after = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1);
        Assert.That(p.Wait(after, T), Is.True);
        Assert.That(p.Results(after)[0].Status, Is.EqualTo(ChunkStatus.Ok));
    }

    [Test]
    public void Crash_and_garbage_fail_the_chunk_with_crashed()
    {
        var p = Make(processes: 1);
        long crash = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("crash"), 1);
        Assert.That(p.Wait(crash, T), Is.True);
        var c = Err(p.Results(crash)[0].Payload);
        Assert.That((p.Results(crash)[0].Status, c.ExitCode), Is.EqualTo((ChunkStatus.Crashed, (int?)3)));
        long garbage = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("garbage"), 1);
        Assert.That(p.Wait(garbage, T), Is.True);
        Assert.That(p.Results(garbage)[0].Status, Is.EqualTo(ChunkStatus.Crashed));
        Assert.That(Err(p.Results(garbage)[0].Payload).Message, Does.Contain("protocol"));
        long ok = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1);
        Assert.That(p.Wait(ok, T), Is.True);
        Assert.That(p.Results(ok)[0].Status, Is.EqualTo(ChunkStatus.Ok));
    }

    [Test]
    public void Big_results_do_not_deadlock()
    {
        var p = Make(processes: 2);
        var chunks = Enumerable.Range(0, 8).Select(_ => Chunk("big", 3 << 20)).ToArray();
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", chunks);
        Assert.That(p.Wait(job, T), Is.True);
        Assert.That(p.Results(job).Select(r => r.Payload.Length), Is.All.GreaterThan(3 << 20));
    }

    [Test]
    public void Fatal_at_init_breaks_the_kind_with_the_fatal_error()
    {
        var p = Make(init: "fatal", prestart: false);
        long job = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1);
        Assert.That(p.Wait(job, T), Is.True);
        var r = p.Results(job)[0];
        Assert.That(r.Status, Is.EqualTo(ChunkStatus.Broken));
        Assert.That(Err(r.Payload).Message, Is.EqualTo("init failed on purpose"));
        long later = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1);
        Assert.That(p.IsReady(later), Is.True, "a broken kind fails new chunks at once");
    }

    [Test]
    public void Workers_exiting_before_hello_break_the_kind_after_a_few_tries()
    {
        var p = Make(processes: 1, init: "exit", prestart: false);
        long job = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1);
        Assert.That(p.Wait(job, T), Is.True);
        var r = p.Results(job)[0];
        Assert.That(r.Status, Is.EqualTo(ChunkStatus.Broken));
        Assert.That(Err(r.Payload).Message, Does.Contain("exit code 5"));
    }

    [Test]
    public void Missing_executable_breaks_the_kind()
    {
        var o = FakeWorker.Options(1);
        o.Python = "/nonexistent/python3";
        var p = new PoolCore(o);
        _pools.Add(p);
        long job = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1);
        Assert.That(p.Wait(job, T), Is.True);
        Assert.That(p.Results(job)[0].Status, Is.EqualTo(ChunkStatus.Broken));
        Assert.That(Err(p.Results(job)[0].Payload).Message, Does.Contain("/nonexistent/python3"));
    }

    [Test]
    public void Close_then_join_finishes_queued_work_and_stops_workers()
    {
        var p = Make(processes: 1);
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("sleep", 0), Chunk("echo")]);
        p.Close();
        Assert.Throws<InvalidOperationException>(() => p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1));
        Assert.That(p.Join(T), Is.True);
        Assert.That(p.Results(job).Select(r => r.Status), Is.All.EqualTo(ChunkStatus.Ok));
        Assert.That(p.Info().LiveWorkers, Is.EqualTo(0));
    }

    [Test]
    public void Join_before_close_throws_and_join_times_out()
    {
        var p = Make(processes: 1);
        Assert.Throws<InvalidOperationException>(() => p.Join(TimeSpan.Zero));
        p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("sleep", 2), 1);
        p.Close();
        Assert.That(p.Join(TimeSpan.FromMilliseconds(100)), Is.False);
    }

    [Test]
    public void Terminate_cancels_unfinished_chunks_and_kills_hung_workers()
    {
        var p = Make(processes: 2);
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", [Chunk("hang"), Chunk("hang"), Chunk("echo")]);
        Thread.Sleep(300);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        p.Terminate();
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(p.IsReady(job), Is.True);
        Assert.That(p.Results(job).Select(r => r.Status), Has.Some.EqualTo(ChunkStatus.Cancelled));
        Assert.That(p.Info().LiveWorkers, Is.EqualTo(0));
        Assert.That(p.NextNotification(TimeSpan.Zero, out _), Is.False, "a terminated pool has no more notifications");
    }

    [Test]
    public void Notify_jobs_are_queued_once_ready()
    {
        var p = Make(processes: 1);
        long a = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("echo"), 1, notify: true);
        Assert.That(p.NextNotification(T, out var id), Is.True);
        Assert.That(id, Is.EqualTo(a));
        Assert.That(p.NextNotification(TimeSpan.FromMilliseconds(20), out var none), Is.True);
        Assert.That(none, Is.Null);
    }

    [Test]
    public void Chunksize_follows_the_stdlib_rule()
    {
        var p = new PoolCore(new PoolCoreOptions { Processes = 3 });
        _pools.Add(p);
        Assert.That(new[] { p.Chunksize(0), p.Chunksize(1), p.Chunksize(12), p.Chunksize(13), p.Chunksize(100) },
            Is.EqualTo(new[] { 0, 1, 1, 2, 9 }));
    }
}
