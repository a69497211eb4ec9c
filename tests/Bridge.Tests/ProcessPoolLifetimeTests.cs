using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>Cancellation and disposal of <see cref="ProcessPool"/> (each test owns its pool).</summary>
public class ProcessPoolLifetimeTests : ProcessPoolTestBase
{
    [Test]
    public async Task Cancelling_a_map_cancels_its_queued_chunks()
    {
        await using var pool = CreatePool(1);
        using var cts = new CancellationTokenSource();
        // 40 chunks of 0.2 s on one worker: 8 s if they all ran.
        var items = Enumerable.Range(0, 40).Select(_ => 20L).ToList();
        var map = pool.MapAsync<long, long>("fixtures.calc:delayed", items, 1, cts.Token);
        await Task.Delay(300, Timeout);
        var sw = Stopwatch.StartNew();
        cts.Cancel();
        var e = Assert.CatchAsync<OperationCanceledException>(() => Bounded(map));
        Assert.That(e!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)));
        // The queued chunks did not run: the worker is free again almost at once.
        sw.Restart();
        Assert.That(await Bounded(pool.ApplyAsync<long>("fixtures.calc:add", 1, 2)), Is.EqualTo(3));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public async Task Cancelling_many_queued_applies()
    {
        await using var pool = CreatePool(1);
        using var cts = new CancellationTokenSource();
        var calls = Enumerable.Range(0, 30).Select(_ => pool.ApplyAsync<long>("fixtures.calc:delayed", [20L], cts.Token)).ToList();
        await Task.Delay(300, Timeout);
        cts.Cancel();
        int cancelled = 0, completed = 0;
        foreach (var call in calls)
        {
            try
            {
                await Bounded(call);
                completed++;
            }
            catch (OperationCanceledException e) when (e.CancellationToken == cts.Token)
            {
                cancelled++;
            }
        }
        Assert.That(cancelled, Is.GreaterThanOrEqualTo(25));
        Assert.That(cancelled + completed, Is.EqualTo(30));
    }

    [Test]
    public async Task Already_cancelled_token_completes_at_once()
    {
        await using var pool = CreatePool(1);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var task = pool.ApplyAsync<long>("fixtures.calc:add", [1L, 2L], cts.Token);
        Assert.That(task.IsCanceled, Is.True);
        var e = Assert.CatchAsync<OperationCanceledException>(() => task);
        Assert.That(e!.CancellationToken, Is.EqualTo(cts.Token));
    }

    [Test]
    public async Task Cancelling_an_imap_ends_the_enumeration()
    {
        await using var pool = CreatePool(1);
        using var cts = new CancellationTokenSource();
        var items = Enumerable.Range(0, 40).Select(_ => 10L).ToList();
        int seen = 0;
        var e = Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            await foreach (var x in pool.ImapAsync<long, long>("fixtures.calc:delayed", items, 1, cts.Token).WithCancellation(Timeout))
            {
                if (++seen == 2)
                {
                    cts.Cancel();
                }
            }
        });
        Assert.That(e!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(seen, Is.LessThan(40));
    }

    [Test]
    public async Task Disposal_fails_calls_in_flight_promptly()
    {
        var pool = CreatePool(2);
        var slow = pool.ApplyAsync<long>("fixtures.calc:sleep_then", 30.0, 1L);
        var queued = pool.MapAsync<long, long>("fixtures.calc:delayed", Enumerable.Repeat(500L, 10), 1, Timeout);
        await Task.Delay(500, Timeout);
        var sw = Stopwatch.StartNew();
        await pool.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.ThrowsAsync<ObjectDisposedException>(() => Bounded(slow));
        Assert.ThrowsAsync<ObjectDisposedException>(() => Bounded(queued));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public void Use_after_dispose_throws_object_disposed([Values(true, false)] bool async)
    {
        var pool = CreatePool(1);
        if (async)
        {
            Assert.That(pool.DisposeAsync().AsTask().Wait(TestTimeout), Is.True);
        }
        else
        {
            pool.Dispose();
        }
        // Idempotent, both ways.
        pool.Dispose();
        Assert.That(pool.DisposeAsync().AsTask().Wait(TestTimeout), Is.True);
        Assert.Throws<ObjectDisposedException>(() => pool.ApplyAsync<long>("fixtures.calc:add", 1, 2));
        Assert.Throws<ObjectDisposedException>(() => pool.MapAsync<long, long>("fixtures.calc:square", [1]));
        Assert.Throws<ObjectDisposedException>(() => pool.ImapAsync<long, long>("fixtures.calc:square", [1]));
        Assert.Throws<ObjectDisposedException>(() => pool.GetFunction<long, long>("fixtures.calc:square"));
    }

    [Test]
    public async Task Typed_handle_after_dispose_throws_object_disposed()
    {
        var pool = CreatePool(1);
        var square = pool.GetFunction<long, long>("fixtures.calc:square");
        Assert.That(await Bounded(square(3)), Is.EqualTo(9));
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => square(3));
    }

    [Test]
    public async Task Disposal_leaves_no_worker_processes()
    {
        var pool = CreatePool(2);
        var pids = new HashSet<long>();
        foreach (var pid in await Bounded(pool.MapAsync<object?, long>("fixtures.calc:pid", [null, null, null, null], 1, Timeout)))
        {
            pids.Add(pid);
        }
        long dotnetPid = await Bounded(pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Echo.Identity"), (long)0));
        Assert.That(dotnetPid, Is.EqualTo(0));
        pool.Dispose();
        foreach (var pid in pids)
        {
            Assert.That(WaitGone((int)pid, TimeSpan.FromSeconds(5)), Is.True, $"worker {pid} still alive after Dispose");
        }
    }

    private static bool WaitGone(int pid, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            if (!Directory.Exists($"/proc/{pid}") || File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal))
            {
                return true;
            }
            Thread.Sleep(20);
        }
        return false;
    }
}
