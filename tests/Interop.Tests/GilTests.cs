using Bridge.Interop;

namespace Interop.Tests;

public sealed class GilTests
{
    [Test]
    public void Acquire_is_reentrant_on_one_thread()
    {
        Assert.That(Gil.IsHeld, Is.False);
        using (Gil.Acquire())
        {
            using (Gil.Acquire())
            {
                using var math = Py.Import("math");
                Assert.That(Gil.IsHeld, Is.True);
            }
            Assert.That(Gil.IsHeld, Is.True);
        }
        Assert.That(Gil.IsHeld, Is.False);
    }

    [Test]
    public void Eight_threads_call_python_at_once()
    {
        using var g = Py.Exec("counter = [0]\ndef f(x):\n    counter[0] += 1\n    return x + 1\n");
        using var f = g["f"];
        var typed = f.GetFunction<long, long>();
        const int threads = 8, calls = 10_000;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<Exception>();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            try
            {
                for (long i = 0; i < calls; i++)
                {
                    long r = (i & 1) == 0 ? typed(i) : f.Call<long>(i);
                    if (r != i + 1) throw new InvalidOperationException($"thread {t}: f({i}) returned {r}");
                }
            }
            catch (Exception e) // collected and asserted below
            {
                errors.Enqueue(e);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        foreach (var w in workers) Assert.That(w.Join(TimeSpan.FromSeconds(50)), Is.True, "worker thread hung");
        Assert.That(errors, Is.Empty);
        Assert.That(g["counter"].GetItem<long>(0), Is.EqualTo(threads * calls));
    }

    [Test]
    public void Python_threads_run_while_dotnet_does_not_hold_the_GIL()
    {
        using var g = Py.Exec(
            "import threading\nresult = []\n" +
            "t = threading.Thread(target=lambda: result.append(sum(range(1000))))\nt.start()\n");
        using var t = g["t"];
        t.CallMethod("join", 10.0).Dispose();
        Assert.That(t.CallMethod("is_alive").As<bool>(), Is.False);
        Assert.That(g["result"].As<long[]>(), Is.EqualTo(new[] { 499500L }));
    }

    [Test]
    public async Task Objects_are_usable_from_threadpool_continuations()
    {
        using var math = Py.Import("math");
        for (int i = 0; i < 20; i++)
        {
            await Task.Yield();
            Assert.That(math.GetAttr("factorial").Call<long>(10), Is.EqualTo(3628800));
        }
    }
}
