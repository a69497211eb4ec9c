using Bridge.Tests.Support;

namespace Bridge.Tests;

/// <summary>
/// Issue 5, bad input on the wire, from C#: a <see cref="ProcessPool"/> whose .NET worker command
/// (<see cref="ProcessPoolOptions.DotNetWorker"/>) is a fake that speaks frames and misbehaves on
/// demand (garbage, an oversized length prefix, a frame cut short, a body that is no array, a result
/// for a task it never got, an exit mid-task). The affected call fails with a
/// <see cref="WorkerCrashedException"/> saying why, the worker is killed and replaced, the pool
/// keeps serving, and nothing hangs. The fake is tests/faults/fake_dotnet_worker.py (scripts/faults.py
/// runs the same faults through tests/FaultHost). The Python suite's counterpart: tests/faults/rounds.py
/// <c>fake_worker_round</c>; the PoolCore-level one: PoolCoreTests.
/// </summary>
public class FakeWorkerPoolTests : ProcessPoolTestBase
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(30);

    public enum Fault { Garbage, Oversized, Truncated, NotAnArray, WrongId, Exit }

    private static ProcessPool FakePool(int processes)
    {
        if (!FakeWorker.Available)
        {
            Assert.Ignore($"{FakeWorker.Python} with msgpack is needed for the fake worker");
        }
        var options = new ProcessPoolOptions { Processes = processes };
        options.DotNetWorker.Add(FakeWorker.Python);
        options.DotNetWorker.Add(Path.Combine(RepoRoot, "tests", "faults", "fake_dotnet_worker.py"));
        return new ProcessPool(options);
    }

    private static Target Fake(string mode) => DotNetMethod.Of("Fake." + mode);

    [Test]
    [CancelAfter(60_000)]
    public async Task A_misbehaving_worker_fails_its_call_and_is_replaced([Values] Fault fault)
    {
        await using var pool = FakePool(1);
        long before = await pool.ApplyAsync<long>(Fake("Pid")).WaitAsync(T);

        var e = Assert.ThrowsAsync<WorkerCrashedException>(async () => await pool.ApplyAsync<long>(Fake(fault.ToString()), 1L).WaitAsync(T));
        TestContext.Out.WriteLine($"{fault}: {e!.Message}");
        Assert.Multiple(() =>
        {
            Assert.That(e.Pid, Is.EqualTo((int)before), "the error names the dead worker");
            switch (fault)
            {
                case Fault.Exit:
                    Assert.That(e.ExitCode, Is.EqualTo(3));
                    break;
                case Fault.Truncated:
                    Assert.That(e.Message, Does.Contain("protocol").Or.Contain("exit").IgnoreCase);
                    break;
                case Fault.WrongId:
                    Assert.That(e.Message, Does.Contain("unknown task id"));
                    break;
                default:
                    Assert.That(e.Message, Does.Contain("protocol"));
                    break;
            }
        });

        long after = await pool.ApplyAsync<long>(Fake("Pid")).WaitAsync(T);
        Assert.Multiple(async () =>
        {
            Assert.That(after, Is.Not.EqualTo(before), "a new worker took over");
            Assert.That(await pool.ApplyAsync<long>(Fake("Echo"), 41L).WaitAsync(T), Is.EqualTo(41), "the pool keeps serving");
            Assert.That(WaitGone((int)before, TimeSpan.FromSeconds(5)), Is.True, "the misbehaving worker was killed and reaped");
        });
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task Garbage_from_one_worker_fails_only_its_calls_among_many([Values(Fault.Garbage, Fault.Oversized)] Fault fault)
    {
        await using var pool = FakePool(2);
        var good = Enumerable.Range(0, 40).Select(i => pool.ApplyAsync<long>(Fake("Echo"), (long)i)).ToList();
        var bad = pool.ApplyAsync<long>(Fake(fault.ToString()), -1L);
        var more = Enumerable.Range(40, 40).Select(i => pool.ApplyAsync<long>(Fake("Echo"), (long)i)).ToList();
        int ok = 0;
        var crashedPids = new List<int>();
        foreach (var (task, i) in good.Concat(more).Select((t, i) => (t, i)))
        {
            try
            {
                Assert.That(await task.WaitAsync(T), Is.EqualTo(i), "no wrong or swapped result");
                ok++;
            }
            catch (WorkerCrashedException e)
            {
                crashedPids.Add(e.Pid);  // was in flight on the bad worker
            }
        }
        var badError = Assert.ThrowsAsync<WorkerCrashedException>(async () => await bad.WaitAsync(T));
        TestContext.Out.WriteLine($"{fault}: {ok} ok, {crashedPids.Count} failed with the bad worker: {badError!.Message}");
        Assert.Multiple(async () =>
        {
            Assert.That(ok + crashedPids.Count, Is.EqualTo(80), "every call ended");
            Assert.That(ok, Is.Positive);
            Assert.That(crashedPids, Is.All.EqualTo(badError.Pid), "only calls in flight on the bad worker failed");
            Assert.That(await pool.ApplyAsync<long>(Fake("Echo"), 7L).WaitAsync(T), Is.EqualTo(7));
        });
    }

    private static bool WaitGone(int pid, TimeSpan timeout)
    {
        var end = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < end)
        {
            try
            {
                string stat = File.ReadAllText($"/proc/{pid}/stat");
                if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('Z'))
                {
                    return true;
                }
            }
            catch (IOException)
            {
                return true;
            }
            Thread.Sleep(20);
        }
        return false;
    }
}
