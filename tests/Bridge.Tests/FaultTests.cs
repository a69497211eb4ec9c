using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>
/// The fault suite from C# (helper "faults"; the Python side is tests/python/test_faults.py):
/// workers of both kinds are SIGKILLed at seeded random points during MapAsync, ImapAsync and
/// ApplyAsync; every call ends with its results or a clear exception (no hang, nothing
/// silently lost or wrong) and the pool keeps serving.
/// </summary>
[NonParallelizable]  // finds its workers among this process's children
public class FaultTests : ProcessPoolTestBase
{
    private static HashSet<int> Children()
    {
        int me = Environment.ProcessId;
        var set = new HashSet<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out int pid))
                continue;
            try
            {
                string stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var rest = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (rest[0] != "Z" && int.Parse(rest[1], System.Globalization.CultureInfo.InvariantCulture) == me)
                    set.Add(pid);
            }
            catch (IOException)
            {
                // the process ended meanwhile
            }
        }
        return set;
    }

    private static Task Killer(Random rng, HashSet<int> before, CancellationToken stop, int[] kills) => Task.Run(async () =>
    {
        for (int i = 0; i < 2 && !stop.IsCancellationRequested; i++)
        {
            await Task.Delay(rng.Next(20, 150), stop).ContinueWith(_ => { }, TaskScheduler.Default);
            var workers = Children().Where(p => !before.Contains(p)).ToList();
            if (workers.Count == 0 || stop.IsCancellationRequested)
                continue;
            try
            {
                Process.GetProcessById(workers[rng.Next(workers.Count)]).Kill();  // SIGKILL
                kills[0]++;
            }
            catch (ArgumentException)
            {
                // already gone
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
        }
    });

    public enum Call { Map, Imap, Apply }

    [Test]
    [CancelAfter(90_000)]
    public async Task Sigkill_python_workers_loses_nothing([Values] Call call, [Values(1, 2)] int seed)
    {
        var before = Children();
        using var pool = CreatePool(2);
        long[] items = Enumerable.Range(1, 24).Select(i => (long)i).ToArray();
        Assert.That(await Bounded(pool.ApplyAsync<long>("fixtures.calc:square", 3L)), Is.EqualTo(9));
        await Run(pool, before, seed, call, items, "fixtures.calc:delayed", x => x,
            (p, i) => p.ApplyAsync<long>("fixtures.calc:delayed", i));
        Assert.That(await Bounded(pool.ApplyAsync<long>("fixtures.calc:square", 4L)), Is.EqualTo(16), "the pool keeps serving");
    }

    [Test]
    [CancelAfter(90_000)]
    public async Task Sigkill_dotnet_workers_loses_nothing([Values] Call call)
    {
        var before = Children();
        using var pool = CreatePool(2);
        var isPrime = DotNetMethod.Of("Bridge.Samples.Primes.IsPrime");
        // ~1e16 (with a few primes among them): each call takes tens of ms, so kills land in
        // flight; the expected answers come from an undisturbed run
        long[] items = Enumerable.Range(0, 24).Select(i => (i % 3 == 0 ? 10_000_000_000_000_061L : 10_000_000_000_000_001L + 2 * i)).ToArray();
        bool[] plain = await Bounded(pool.MapAsync<long, bool>(isPrime, items, 1, Timeout));
        var truth = items.Zip(plain).GroupBy(t => t.First).ToDictionary(g => g.Key, g => g.First().Second ? 1L : 0L);
        Assert.That(await Bounded(pool.ApplyAsync<bool>(isPrime, 7L)), Is.True);
        await Run(pool, before, 3, call, items, isPrime, x => truth[x],
            async (p, x) => await p.ApplyAsync<bool>(isPrime, x) ? 1L : 0L, boolResults: true);
        Assert.That(await Bounded(pool.ApplyAsync<bool>(isPrime, 8L)), Is.False, "the pool keeps serving");
    }

    private async Task Run(ProcessPool pool, HashSet<int> before, int seed, Call call, long[] items, Target target,
        Func<long, long> expected, Func<ProcessPool, long, Task<long>> apply, bool boolResults = false)
    {
        var rng = new Random(seed);
        using var stop = new CancellationTokenSource();
        int[] kills = { 0 };
        var killer = Killer(rng, before, stop.Token, kills);
        int ended = 0, errors = 0, wrong = 0;
        try
        {
            switch (call)
            {
                case Call.Map:
                    try
                    {
                        long[] r = boolResults
                            ? (await Bounded(pool.MapAsync<long, bool>(target, items, 1, Timeout))).Select(b => b ? 1L : 0L).ToArray()
                            : await Bounded(pool.MapAsync<long, long>(target, items, 1, Timeout));
                        ended = r.Length;
                        wrong = r.Where((v, i) => v != expected(items[i])).Count();
                    }
                    catch (Exception e) when (e is not OperationCanceledException and not TimeoutException)  // a clear error ends the whole map
                    {
                        ended = items.Length;
                        errors = items.Length;
                    }
                    break;
                case Call.Imap:
                    int i = 0;
                    try
                    {
                        if (boolResults)
                        {
                            await foreach (var b in pool.ImapAsync<long, bool>(target, items, 1, Timeout))
                                wrong += (b ? 1L : 0L) != expected(items[i++]) ? 1 : 0;
                        }
                        else
                        {
                            await foreach (var v in pool.ImapAsync<long, long>(target, items, 1, Timeout))
                                wrong += v != expected(items[i++]) ? 1 : 0;
                        }
                        ended = i;
                    }
                    catch (Exception e) when (e is not OperationCanceledException and not TimeoutException)  // a clear error for the rest
                    {
                        ended = items.Length;
                        errors = items.Length - i;
                    }
                    break;
                default:
                    var tasks = items.Select(x => apply(pool, x)).ToArray();
                    for (int k = 0; k < tasks.Length; k++)
                    {
                        try
                        {
                            wrong += await Bounded(tasks[k]) != expected(items[k]) ? 1 : 0;
                        }
                        catch (Exception e) when (e is not OperationCanceledException and not TimeoutException)  // that task's clear error
                        {
                            errors++;
                        }
                        ended++;
                    }
                    break;
            }
        }
        finally
        {
            stop.Cancel();
            await killer.WaitAsync(TimeSpan.FromSeconds(10));
        }
        TestContext.Out.WriteLine($"{call} seed {seed}: {kills[0]} kills, {ended} ended, {errors} errors, {wrong} wrong");
        Assert.Multiple(() =>
        {
            Assert.That(ended, Is.EqualTo(items.Length), "every task ends");
            Assert.That(wrong, Is.Zero, "no wrong (lost or swapped) result");
        });
    }
}
