using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>The blocking API (<c>Apply</c>, <c>Map</c>, <c>Starmap</c>) and the async one give the same results and errors.</summary>
public class ProcessPoolSyncOrAsyncTests : ProcessPoolTestBase
{
    private ProcessPool _pool = null!;

    [OneTimeSetUp]
    public void CreateSharedPool() => _pool = CreatePool(2);

    [OneTimeTearDown]
    public void DisposeSharedPool() => _pool?.Dispose();

    private async Task<T> Apply<T>(bool async, ProcessPool pool, Target target, params object?[] args) =>
        async ? await Bounded(pool.ApplyAsync<T>(target, args, Timeout)) : pool.Apply<T>(target, args, Timeout);

    [Test]
    public async Task Apply_returns_the_result([Values(true, false)] bool async)
    {
        Assert.That(await Apply<long>(async, _pool, "fixtures.calc:add", 20L, 22L), Is.EqualTo(42));
        Assert.That(await Apply<long>(async, _pool, DotNetMethod.Of("Bridge.Samples.Echo.Add"), 20L, 22L), Is.EqualTo(42));
        if (!async)
        {
            Assert.That(_pool.Apply<string>("fixtures.calc:add", "a", "b"), Is.EqualTo("ab"));
        }
    }

    [Test]
    public async Task Map_and_starmap_return_results_in_order([Values(true, false)] bool async)
    {
        var items = Enumerable.Range(0, 30).Select(i => (long)i).ToList();
        long[] squares = async
            ? await Bounded(_pool.MapAsync<long, long>("fixtures.calc:square", items, 0, Timeout))
            : _pool.Map<long, long>("fixtures.calc:square", items, 0, Timeout);
        Assert.That(squares, Is.EqualTo(items.Select(i => i * i).ToArray()));
        var calls = items.Select(i => new object?[] { i, i }).ToList();
        long[] sums = async
            ? await Bounded(_pool.StarmapAsync<long>("fixtures.calc:add", calls, 4, Timeout))
            : _pool.Starmap<long>("fixtures.calc:add", calls, 4, Timeout);
        Assert.That(sums, Is.EqualTo(items.Select(i => 2 * i).ToArray()));
    }

    [Test]
    public void Python_exception([Values(true, false)] bool async)
    {
        var e = Assert.ThrowsAsync<PythonException>(() => Apply<long>(async, _pool, "fixtures.errors:raise_value_error", "sync or not"));
        Assert.That(e!.PythonType, Is.EqualTo("builtins.ValueError"));
        Assert.That(e.Message, Is.EqualTo("sync or not"));
    }

    [Test]
    public async Task Crashed_worker([Values(true, false)] bool async)
    {
        using var pool = CreatePool(1);
        var e = Assert.ThrowsAsync<WorkerCrashedException>(() => Apply<long>(async, pool, "fixtures.errors:exit_with", 5L));
        Assert.That(e!.ExitCode, Is.EqualTo(5));
        Assert.That(await Apply<long>(async, pool, "fixtures.calc:add", 1L, 1L), Is.EqualTo(2));
    }

    [Test]
    public void Cancellation_while_queued([Values(true, false)] bool async)
    {
        using var pool = CreatePool(1);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var items = Enumerable.Repeat(20L, 40).ToList();
        var sw = Stopwatch.StartNew();
        var e = Assert.CatchAsync<OperationCanceledException>(async () =>
        {
            if (async)
            {
                await Bounded(pool.MapAsync<long, long>("fixtures.calc:delayed", items, 1, cts.Token));
            }
            else
            {
                pool.Map<long, long>("fixtures.calc:delayed", items, 1, cts.Token);
            }
        });
        Assert.That(e!.CancellationToken, Is.EqualTo(cts.Token));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)));
    }

    [Test]
    public void Disposal_fails_a_blocked_call_promptly()
    {
        var pool = CreatePool(1);
        var blocked = Task.Run(() => pool.Apply<long>("fixtures.calc:sleep_then", 30.0, 1L));
        Thread.Sleep(500);
        var sw = Stopwatch.StartNew();
        pool.Dispose();
        Assert.ThrowsAsync<ObjectDisposedException>(() => Bounded(blocked));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.Throws<ObjectDisposedException>(() => pool.Apply<long>("fixtures.calc:add", 1L, 2L));
        Assert.Throws<ObjectDisposedException>(() => pool.Map<long, long>("fixtures.calc:square", [1]));
    }
}
