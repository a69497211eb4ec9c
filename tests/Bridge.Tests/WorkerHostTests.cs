using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Bridge.Internal;
using Bridge.Protocol;
using Bridge.Transport;
using MessagePack;

namespace Bridge.Tests;

/// <summary>
/// PoolCore with <see cref="PoolCoreOptions.PythonHost"/> (interpreter workers: the host runs each Python
/// worker in-process over two pipes). The host here is a C# thread speaking the protocol; Python's real one
/// (sub-interpreters) is tested by tests/python/test_interpreter_workers.py.
/// </summary>
public class WorkerHostTests
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(30);
    private readonly List<PoolCore> _pools = new();

    [TearDown]
    public void DisposePools()
    {
        foreach (var p in _pools)
            p.Dispose();
        _pools.Clear();
    }

    /// <summary>A worker per thread: INIT → HELLO; TASK <c>[[mode, arg]]</c>: "echo" → RESULT, "sleep" ms then
    /// RESULT, "exit" → ends with exit code arg (the task in flight); STOP or EOF → ends with 0.</summary>
    private sealed class ThreadHost : IWorkerHost
    {
        private readonly ConcurrentDictionary<long, int> _codes = new();
        private long _next;
        public int Started;
        public int Running;
        public bool Refuse;

        public long Start(int workerId, int taskReadFd, int resultWriteFd)
        {
            if (Refuse)
                return 0;
            long h = Interlocked.Increment(ref _next);
            Interlocked.Increment(ref Started);
            Interlocked.Increment(ref Running);
            new Thread(() => Run(h, taskReadFd, resultWriteFd)) { IsBackground = true, Name = $"host-worker-{workerId}" }.Start();
            return h;
        }

        public int? TakeExitCode(long handle) => _codes.TryRemove(handle, out int c) ? c : null;

        public readonly ConcurrentBag<long> Stopped = new();

        public void Stop(long handle) => Stopped.Add(handle);

        private void Run(long h, int rfd, int wfd)
        {
            int code = 0;
            var reader = new FdFrameReader(rfd);
            using var fw = new FrameWriter(256);
            try
            {
                while (reader.TryRead(out var f))
                {
                    if (f.Kind == FrameKind.Init)
                    {
                        fw.WriteHello("python", Environment.ProcessId);
                    }
                    else if (f.Kind == FrameKind.Task)
                    {
                        var r = new MessagePackReader(f.Payload);
                        r.ReadArrayHeader();
                        r.ReadArrayHeader();
                        string mode = r.ReadString() ?? "";
                        long arg = r.ReadInt64();
                        if (mode == "exit")
                        {
                            code = (int)arg;
                            break;
                        }
                        if (mode == "sleep")
                            Thread.Sleep((int)arg);
                        var buf = new ArrayBufferWriter<byte>();
                        var w = new MessagePackWriter(buf);
                        w.WriteArrayHeader(1);
                        w.Write(arg);
                        w.Flush();
                        fw.WriteResult(f.TaskId, TaskEncoding.MsgPack, buf.WrittenSpan, 1);
                    }
                    else if (f.Kind == FrameKind.Stop)
                    {
                        break;
                    }
                    FdIO.WriteFrames(wfd, fw);
                    fw.Reset();
                }
            }
            catch (IOException) // the pool closed the result pipe: it is gone
            {
            }
            _codes[h] = code;
            FdIO.CloseQuietly(rfd);
            FdIO.CloseQuietly(wfd);
            Interlocked.Decrement(ref Running);
        }
    }

    private PoolCore Make(ThreadHost host, int processes = 2, int? maxTasksPerChild = null)
    {
        var p = new PoolCore(new PoolCoreOptions
        {
            Processes = processes,
            PythonHost = host,
            Prestart = [WorkerKind.Python],
            MaxTasksPerChild = maxTasksPerChild,
            Python = "/nonexistent/never-spawned",
        });
        _pools.Add(p);
        return p;
    }

    private static byte[] Call(string mode, long arg)
    {
        var buf = new ArrayBufferWriter<byte>();
        var w = new MessagePackWriter(buf);
        w.WriteArrayHeader(1);
        w.WriteArrayHeader(2);
        w.Write(mode);
        w.Write(arg);
        w.Flush();
        return buf.WrittenSpan.ToArray();
    }

    private static (int Status, ReadOnlyMemory<byte> Payload) Run(PoolCore p, string mode, long arg)
    {
        long job = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call(mode, arg), 1);
        Assert.That(p.Wait(job, T), Is.True);
        var r = p.Results(job)[0];
        p.Release(job);
        return r;
    }

    private static void WaitUntil(Func<bool> done, string what)
    {
        var end = DateTime.UtcNow + T;
        while (!done())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(end), what);
            Thread.Sleep(5);
        }
    }

    [Test]
    public void Hosted_workers_run_tasks_and_report_the_host_pid()
    {
        var host = new ThreadHost();
        var p = Make(host);
        Assert.That(host.Started, Is.EqualTo(2), "prestart starts all workers through the host");
        var chunks = Enumerable.Range(0, 20).Select(i => ((ReadOnlyMemory<byte>)Call("echo", i), 1)).ToArray();
        long job = p.Submit(WorkerKind.Python, TaskEncoding.MsgPack, "t", chunks);
        Assert.That(p.Wait(job, T), Is.True);
        Assert.That(p.Results(job).Select(r => MessagePackSerializer.ConvertToJson(r.Payload)),
            Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"[{i}]")));
        Assert.That(p.Workers(WorkerKind.Python).Select(w => w.Pid), Is.All.EqualTo(Environment.ProcessId));
        Assert.That(p.HostedHandles(WorkerKind.Python), Is.EquivalentTo(new long[] { 1, 2 }));
        Assert.That(p.HostedHandles(WorkerKind.DotNet), Is.Empty);
    }

    [Test]
    public void A_hosted_worker_that_ends_mid_task_fails_it_as_crashed_and_is_replaced()
    {
        var host = new ThreadHost();
        var p = Make(host);
        var (status, payload) = Run(p, "exit", 3);
        Assert.That(status, Is.EqualTo(ChunkStatus.Crashed));
        var err = ErrorMap.Parse(payload);
        Assert.That(err.Type, Is.EqualTo("dotbridge.WorkerCrashedError"));
        Assert.That(err.Message, Does.Contain("interpreter worker").And.Contain("exit code 3"));
        Assert.That(err.ExitCode, Is.EqualTo(3));
        WaitUntil(() => host.Started == 3, "the dead worker was not replaced");
        Assert.That(Run(p, "echo", 7).Status, Is.EqualTo(ChunkStatus.Ok));
    }

    [Test]
    public void Terminate_with_a_busy_hosted_worker_is_bounded_and_signals_nobody()
    {
        var host = new ThreadHost();
        var p = Make(host);
        WaitUntil(() => p.Workers(WorkerKind.Python).Count(w => w.Ready) == 2, "workers did not start");
        long job = p.SubmitOne(WorkerKind.Python, TaskEncoding.MsgPack, "t", Call("sleep", 3000), 1);
        Thread.Sleep(200); // dispatched to a ready worker, which is now busy
        var sw = Stopwatch.StartNew();
        p.Terminate(); // a process pool would SIGTERM the workers' pids: here that would be this process
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2.5)));
        Assert.That(p.Results(job)[0].Status, Is.EqualTo(ChunkStatus.Cancelled));
        Assert.That(host.Stopped.Distinct().Count(), Is.EqualTo(2), "the host was asked to stop each of its workers");
        WaitUntil(() => host.Running == 0, "hosted workers did not end after terminate");
        WaitUntil(() => p.Info().LiveWorkers == 0, "hosted workers were not reaped");
    }

    [Test]
    public void Close_join_stops_hosted_workers_and_maxtasksperchild_replaces_them()
    {
        var host = new ThreadHost();
        var p = Make(host, maxTasksPerChild: 1);
        for (int i = 0; i < 4; i++)
            Assert.That(Run(p, "echo", i).Status, Is.EqualTo(ChunkStatus.Ok));
        Assert.That(host.Started, Is.GreaterThanOrEqualTo(5));
        p.Close();
        Assert.That(p.Join(T), Is.True);
        WaitUntil(() => host.Running == 0, "hosted workers did not end after join");
    }

    [Test]
    public void A_host_that_cannot_start_a_worker_breaks_the_kind()
    {
        var host = new ThreadHost { Refuse = true };
        var p = Make(host);
        var (status, payload) = Run(p, "echo", 1);
        Assert.That(status, Is.EqualTo(ChunkStatus.Broken));
        Assert.That(ErrorMap.Parse(payload).Message, Does.Contain("could not start an interpreter worker"));
    }
}
