using System.Diagnostics;
using System.Numerics;
using Bridge.Connections;

namespace Bridge.Tests;

/// <summary>
/// <see cref="SharedQueue"/> on queues made by a Python child (<c>dotbridge.Queue</c>, <c>JoinableQueue</c>,
/// <c>SimpleQueue</c>, given by <c>q.spec</c>): values both ways, sizes, timeouts, task_done/join.
/// </summary>
public class SharedQueueTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(20);

    [Test]
    [CancelAfter(90_000)]
    public void Queue_made_by_python_carries_values_both_ways_with_its_size_and_timeouts()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import sys, time
            import dotbridge
            q = dotbridge.Queue(4)
            for v in [1, "x", {"k": (1, 2)}, 2 ** 80]:
                q.put(v)
            print(q.spec, flush=True)
            sys.stdin.readline()                     # .NET got them all and put its own
            print(repr([q.get(timeout=10) for _ in range(3)]), flush=True)
            print(q.qsize(), q.empty(), flush=True)
            q.close(); q.join_thread()
            """);
        using var q = SharedQueue.Open(child.ReadLine());
        Assert.That(q.Kind, Is.EqualTo(SharedQueueKind.Queue));
        Assert.That(q.MaxSize, Is.EqualTo(4));
        Assert.That(q.QSize(), Is.EqualTo(4), "qsize counts items put (sem_getvalue), fed or not");
        Assert.That(q.Full(), Is.True);
        var sw = Stopwatch.StartNew();
        Assert.That(q.TryPut(5L, TimeSpan.FromMilliseconds(200)), Is.False, "full: the put times out");
        Assert.That(sw.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(150)));
        Assert.Throws<TimeoutException>(() => q.Put(5L, TimeSpan.Zero));

        Assert.That(q.Get<int>(s_wait), Is.EqualTo(1));
        Assert.That(q.Get(s_wait), Is.EqualTo("x"));
        var d = (Dictionary<object, object?>)q.Get(s_wait)!;
        Assert.That(d["k"], Is.EqualTo(new PickleTuple(1L, 2L)));
        Assert.That(q.Get<BigInteger>(s_wait), Is.EqualTo(BigInteger.Pow(2, 80)));
        Assert.That(q.Empty(), Is.True);
        Assert.That(q.QSize(), Is.EqualTo(0));
        sw.Restart();
        Assert.That(q.TryGet(TimeSpan.FromMilliseconds(200), out _), Is.False, "empty: the get times out");
        Assert.That(sw.Elapsed, Is.GreaterThan(TimeSpan.FromMilliseconds(150)));
        Assert.Throws<TimeoutException>(() => q.Get(TimeSpan.Zero));

        q.Put(new List<object?> { 1, "two", null });
        q.Put((3.5, new byte[] { 0, 1 }));
        q.Put(new Dictionary<string, long> { ["n"] = long.MinValue });
        Assert.That(q.QSize(), Is.EqualTo(3));
        child.WriteLine("go");
        Assert.That(child.ReadLine(), Is.EqualTo("[[1, 'two', None], (3.5, b'\\x00\\x01'), {'n': -9223372036854775808}]"));
        Assert.That(child.ReadLine(), Is.EqualTo("0 True"));
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
    }

    [Test]
    [CancelAfter(90_000)]
    public void Joinable_queue_is_joined_by_python_after_dotnet_marks_every_task_done()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import sys, threading
            import dotbridge
            q = dotbridge.JoinableQueue()
            for i in range(3):
                q.put(i)
            print(q.spec, flush=True)
            joined = threading.Event()
            threading.Thread(target=lambda: (q.join(), joined.set()), daemon=True).start()
            print("joined" if joined.wait(20) else "not joined", flush=True)
            sys.stdin.readline()                     # .NET waits in Join now
            q.get(timeout=10)
            q.task_done()
            sys.stdin.readline()
            q.close(); q.join_thread()
            """);
        using var q = SharedQueue.Open(child.ReadLine());
        Assert.That(q.Kind, Is.EqualTo(SharedQueueKind.Joinable));
        Assert.That(q.Join(TimeSpan.FromMilliseconds(100)), Is.False, "three tasks unfinished");
        long sum = 0;
        for (int i = 0; i < 3; i++)
        {
            sum += q.Get<long>(s_wait);
            q.TaskDone();
        }
        Assert.That(sum, Is.EqualTo(3));
        Assert.That(child.ReadLine(), Is.EqualTo("joined"));
        Assert.That(q.Join(TimeSpan.Zero), Is.True, "nothing unfinished");
        Assert.Throws<InvalidOperationException>(q.TaskDone, "task_done() called too many times");

        q.Put("for python");
        var joining = Task.Run(() => q.Join(s_wait));
        Thread.Sleep(100);
        Assert.That(joining.IsCompleted, Is.False, "one task unfinished");
        child.WriteLine("go");
        Assert.That(joining.Wait(s_wait), Is.True);
        Assert.That(joining.Result, Is.True, "Python's task_done woke the .NET join");
        child.WriteLine("done");
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
    }

    [Test]
    [CancelAfter(90_000)]
    public void Simple_queue_carries_values_and_refuses_an_object_pickle_naming_its_type()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import sys
            import dotbridge
            q = dotbridge.SimpleQueue()
            q.put(complex(1, 2))
            q.put("after")
            print(q.spec, flush=True)
            sys.stdin.readline()
            print(repr(q.get()), flush=True)
            q.close()
            """);
        using var q = SharedQueue.Open(child.ReadLine());
        Assert.That(q.Kind, Is.EqualTo(SharedQueueKind.Simple));
        var e = Assert.Throws<PickleFormatException>(() => q.Get(s_wait))!;
        Assert.That(e.PythonType, Is.EqualTo("builtins.complex"));
        Assert.That(q.Get(s_wait), Is.EqualTo("after"), "the refused item is consumed, the next one reads");
        Assert.Throws<NotSupportedException>(() => q.QSize());
        Assert.Throws<NotSupportedException>(q.TaskDone);
        q.Put(new PickleTuple("t", 1L));
        child.WriteLine("go");
        Assert.That(child.ReadLine(), Is.EqualTo("('t', 1)"));
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
    }

    [Test]
    [CancelAfter(90_000)]
    public void A_spec_whose_process_exited_or_is_malformed_does_not_open()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import dotbridge
            q = dotbridge.Queue()
            print(q.spec, flush=True)
            """);
        string spec = child.ReadLine();
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
        Assert.Throws<IOException>(() => SharedQueue.Open(spec));
        Assert.Throws<FormatException>(() => SharedQueue.Open("dotbridge.queue:v1;read=x"));
        Assert.Throws<FormatException>(() => SharedQueue.Open(spec.Replace("kind=queue", "kind=stack")));
    }

    [Test]
    [CancelAfter(90_000)]
    public void Dotnet_threads_and_a_python_feeder_share_one_queue()
    {
        using var child = SharedMemoryPythonChild.Start("""
            import sys
            import dotbridge
            q = dotbridge.Queue()
            print(q.spec, flush=True)
            for i in range(1000):
                q.put(-i)                        # the feeder thread writes while .NET threads write too
            got = [q.get(timeout=20) for _ in range(3000)]
            print(sum(got), len(got), len(set(got)), flush=True)
            sys.stdin.readline()
            for i in range(1000):
                q.put(i)                         # two .NET threads read these
            sys.stdin.readline()
            q.close(); q.join_thread()
            """);
        using var q = SharedQueue.Open(child.ReadLine());
        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(() =>
        {
            for (long i = 0; i < 1000; i++)
            {
                q.Put(w == 0 ? i + 1 : i + 1001, s_wait);
            }
        })).ToArray();
        Assert.That(Task.WaitAll(writers, TimeSpan.FromSeconds(60)), Is.True);
        // Python's own items are 0, -1, ..., -999; ours 1..2000: all 3000 distinct, none lost
        Assert.That(child.ReadLine(), Is.EqualTo($"{(2000L * 2001 / 2) - 499500} 3000 3000"));
        child.WriteLine("go");
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
            Enumerable.Range(0, 500).Select(_ => q.Get<long>(s_wait)).ToList())).ToArray();
        Assert.That(Task.WaitAll(readers, TimeSpan.FromSeconds(60)), Is.True);
        var all = readers.SelectMany(r => r.Result).ToList();
        Assert.That(all.Order(), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => (long)i)), "every item read once");
        Assert.That(q.QSize(), Is.EqualTo(0));
        child.WriteLine("done");
        Assert.That(child.WaitForExit().ExitCode, Is.EqualTo(0));
    }
}
