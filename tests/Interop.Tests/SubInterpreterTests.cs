using Bridge.Interop;
using Bridge.Interop.SubInterpreters;

namespace Interop.Tests;

/// <summary>SubInterpreter on whatever Python this test process embeds (GlobalSetup: the repo's venv, or
/// PYTHONNET_PYDLL). Below 3.12 the refusal is tested; from 3.12 the interpreter itself (run with
/// <c>PYTHONNET_PYDLL=/root/.pyenv/versions/3.12.1/lib/libpython3.12.so</c> to cover it here; Bridge.Tests'
/// InterpreterPoolTests always use a 3.12+ library when one exists).</summary>
public sealed class SubInterpreterTests
{
    private static T OnThread<T>(Func<T> body)
    {
        T result = default!;
        Exception? error = null;
        var thread = new Thread(() =>
        {
            try { result = body(); }
            catch (Exception e) { error = e; } // rethrown on the test thread below
        });
        thread.Start();
        Assert.That(thread.Join(TimeSpan.FromSeconds(60)), Is.True, "the interpreter thread finished");
        if (error is not null) throw error;
        return result;
    }

    [Test]
    public void Below_3_12_creation_is_refused_with_a_message_that_points_to_process_workers()
    {
        if (PythonRuntime.Version >= new Version(3, 12)) Assert.Ignore($"Python {PythonRuntime.Version} supports sub-interpreters");
        Assert.That(SubInterpreter.IsSupported, Is.False);
        var e = Assert.Throws<PlatformNotSupportedException>(() => SubInterpreter.Create())!;
        Assert.That(e.Message, Does.Contain("3.12").And.Contain("process workers"));
    }

    [Test]
    public void A_sub_interpreter_runs_code_calls_and_ends_on_its_thread()
    {
        if (!SubInterpreter.IsSupported) Assert.Ignore(SubInterpreter.UnsupportedReason!);
        var (value, err, wrongThread) = OnThread(() =>
        {
            using var interp = SubInterpreter.Create();
            interp.Exec("import sys\nX = 41\ndef f(a):\n    return [a + X, sys.version_info[:2]]\n", out bool raised);
            Assert.That(raised, Is.False);
            object? v = interp.Call("__main__:f", [1L], out raised);
            Assert.That(raised, Is.False);
            object? e = interp.Call("__main__:missing", [], out raised);
            Assert.That(raised, Is.True);
            Exception? other = null;
            var t = new Thread(() => { try { interp.Exec("pass", out _); } catch (InvalidOperationException x) { other = x; } });
            t.Start();
            t.Join();
            return (v, e, other);
        });
        var list = (object?[])value!;
        Assert.That(list[0], Is.EqualTo(42L));
        Assert.That(((Dictionary<object, object?>)err!)["kind"], Is.EqualTo("target"));
        Assert.That(wrongThread, Is.Not.Null, "another thread may not use the interpreter");
        // The main interpreter is untouched and usable afterwards.
        Assert.That(Py.Eval("6 * 7").As<long>(), Is.EqualTo(42L));
    }

    [Test]
    public void Two_sub_interpreters_created_at_the_same_time_on_two_threads_are_separate_and_both_work()
    {
        if (!SubInterpreter.IsSupported) Assert.Ignore(SubInterpreter.UnsupportedReason!);
        // Creation needs the main interpreter's GIL only briefly (PyGILState_Ensure; on 3.13 also CPython's own
        // switch to the main interpreter while each builtin module is initialised): two at once must not deadlock.
        using var start = new Barrier(2);
        var results = new object?[2];
        var errors = new Exception?[2];
        var threads = Enumerable.Range(0, 2).Select(i => new Thread(() =>
        {
            try
            {
                start.SignalAndWait(TimeSpan.FromSeconds(30));
                using var interp = SubInterpreter.Create();
                interp.Exec($"import sys\nMINE = {i}\ndef who():\n    return [MINE, id(sys)]\n", out bool raised);
                Assert.That(raised, Is.False);
                // Both have run their bootstrap before either ends (the two lifetimes overlap).
                start.SignalAndWait(TimeSpan.FromSeconds(30));
                results[i] = interp.Call("__main__:who", [], out raised);
                Assert.That(raised, Is.False);
            }
            catch (Exception e)
            {
                errors[i] = e; // reported on the test thread below
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        foreach (var t in threads) Assert.That(t.Join(TimeSpan.FromSeconds(60)), Is.True, "the interpreter thread finished");
        foreach (var e in errors) if (e is not null) throw e;
        var a = (object?[])results[0]!;
        var b = (object?[])results[1]!;
        Assert.That(a[0], Is.EqualTo(0L));
        Assert.That(b[0], Is.EqualTo(1L));
        Assert.That(a[1], Is.Not.EqualTo(b[1]), "each interpreter has its own sys module");
        Assert.That(Py.Eval("6 * 7").As<long>(), Is.EqualTo(42L));
    }
}
