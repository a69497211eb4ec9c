using System.Diagnostics;

namespace Bridge.Tests;

/// <summary>
/// The three error kinds (see <see cref="BridgeException"/>) as a C# caller sees them. Paired with
/// <c>tests/python/fixtures/errors.py</c>.
/// </summary>
public class ErrorsTests : ProcessPoolTestBase
{
    private ProcessPool _pool = null!;

    [OneTimeSetUp]
    public void CreateSharedPool() => _pool = CreatePool(2);

    [OneTimeTearDown]
    public void DisposeSharedPool() => _pool?.Dispose();

    // ------------------------------------------------------------ 1. the task raised

    [Test]
    public void Python_exception_carries_type_message_and_traceback()
    {
        var e = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.ApplyAsync<long>("fixtures.errors:raise_value_error", "bad value 42")));
        Assert.That(e!.PythonType, Is.EqualTo("builtins.ValueError"));
        Assert.That(e.PythonTypeName, Is.EqualTo("ValueError"));
        Assert.That(e.RemoteType, Is.EqualTo("builtins.ValueError"));
        Assert.That(e.Message, Is.EqualTo("bad value 42"));
        Assert.That(e.Kind, Is.EqualTo("raised"));
        // The remote source line and file appear in the traceback.
        Assert.That(e.Traceback, Does.Contain("raise ValueError(message)").And.Contain("errors.py"));
        Assert.That(e.ToString(), Does.Contain("builtins.ValueError").And.Contain("raise ValueError(message)"));
        Assert.That(e, Is.InstanceOf<RemoteInvocationException>().And.InstanceOf<BridgeException>());
    }

    [Test]
    public void Python_cause_becomes_the_inner_exception()
    {
        var e = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.ApplyAsync<long>("fixtures.errors:raise_with_cause", "outer")));
        Assert.That(e!.PythonType, Is.EqualTo("builtins.RuntimeError"));
        Assert.That(e.Message, Is.EqualTo("outer"));
        var inner = e.InnerException as PythonException;
        Assert.That(inner, Is.Not.Null);
        Assert.That(inner!.PythonType, Is.EqualTo("builtins.KeyError"));
        Assert.That(inner.Message, Does.Contain("missing"));
    }

    [Test]
    public void User_defined_python_exception_keeps_its_qualified_name()
    {
        var e = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.ApplyAsync<long>("fixtures.errors:raise_custom", "mine")));
        Assert.That(e!.PythonType, Is.EqualTo("fixtures.errors.CustomError"));
        Assert.That(e.Message, Is.EqualTo("mine"));
    }

    [Test]
    public void Missing_python_function_is_a_target_error()
    {
        var e = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.ApplyAsync<long>("fixtures.calc:no_such_function", 1)));
        Assert.That(e!.Kind, Is.EqualTo("target"));
        Assert.That(e.Message, Does.Contain("no_such_function"));
        var module = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.ApplyAsync<long>("no_such_module_xyz:f", 1)));
        Assert.That(module!.Message, Does.Contain("no_such_module_xyz"));
    }

    [Test]
    public void Unencodable_python_result_is_a_result_error()
    {
        var e = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.ApplyAsync<object>("fixtures.errors:unencodable", [null], Timeout)));
        Assert.That(e!.Kind, Is.EqualTo("result"));
    }

    [Test]
    public void Each_failed_call_gets_its_own_exception()
    {
        var t1 = _pool.ApplyAsync<long>("fixtures.errors:raise_value_error", "a");
        var t2 = _pool.ApplyAsync<long>("fixtures.errors:raise_value_error", "b");
        var e1 = Assert.ThrowsAsync<PythonException>(() => Bounded(t1));
        var e2 = Assert.ThrowsAsync<PythonException>(() => Bounded(t2));
        Assert.That(e1, Is.Not.SameAs(e2));
        Assert.That(e1!.Message, Is.EqualTo("a"));
        Assert.That(e2!.Message, Is.EqualTo("b"));
    }

    [Test]
    public void Map_fails_with_the_failing_calls_exception()
    {
        var calls = Enumerable.Range(0, 10).Select(i => new object?[] { i == 6 ? (object)"x" : (long)i, 1L }).ToList();
        var e = Assert.ThrowsAsync<PythonException>(() => Bounded(_pool.StarmapAsync<long>("fixtures.calc:add", calls, 2, Timeout)));
        Assert.That(e!.PythonType, Is.EqualTo("builtins.TypeError"));
    }

    [Test]
    public void Dotnet_exception_carries_remote_type_and_stack_trace()
    {
        var e = Assert.ThrowsAsync<RemoteInvocationException>(() => Bounded(
            _pool.ApplyAsync<object>(DotNetMethod.Of("Bridge.Samples.Errors.Throw"), "System.InvalidOperationException", "dotnet boom")));
        Assert.That(e, Is.Not.InstanceOf<PythonException>());
        Assert.That(e!.RemoteType, Is.EqualTo("System.InvalidOperationException"));
        Assert.That(e.Message, Is.EqualTo("dotnet boom"));
        Assert.That(e.RemoteStackTrace, Does.Contain("Bridge.Samples.Errors.Throw"));
    }

    [Test]
    public void Dotnet_inner_exception_chain_is_kept()
    {
        var e = Assert.ThrowsAsync<RemoteInvocationException>(() => Bounded(
            _pool.ApplyAsync<object>(DotNetMethod.Of("Bridge.Samples.Errors.ThrowWithInner"), "outer", "inner")));
        Assert.That(e!.RemoteType, Is.EqualTo("System.InvalidOperationException"));
        var inner = e.InnerException as RemoteInvocationException;
        Assert.That(inner, Is.Not.Null);
        Assert.That(inner!.RemoteType, Is.EqualTo("System.ArgumentException"));
        Assert.That(inner.Message, Is.EqualTo("inner"));
    }

    [Test]
    public void Dotnet_bad_arguments_are_an_args_error()
    {
        var e = Assert.ThrowsAsync<RemoteInvocationException>(() => Bounded(
            _pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), "zero", 10L)));
        Assert.That(e!.Kind, Is.EqualTo("args"));
        Assert.That(e.Message, Does.Contain("lo"));
    }

    [Test]
    public void Dotnet_missing_method_is_a_target_error()
    {
        var e = Assert.ThrowsAsync<RemoteInvocationException>(() => Bounded(
            _pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.NoSuchMethod"), 1L)));
        Assert.That(e!.Kind, Is.EqualTo("target"));
    }

    // ------------------------------------------------------------ 2. a worker died

    [Test]
    public async Task Worker_exit_fails_the_call_with_its_exit_code_and_the_pool_goes_on()
    {
        await using var pool = CreatePool(1);
        var sw = Stopwatch.StartNew();
        var e = Assert.ThrowsAsync<WorkerCrashedException>(() => Bounded(pool.ApplyAsync<long>("fixtures.errors:exit_with", 3L)));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
        Assert.That(e!.ExitCode, Is.EqualTo(3));
        Assert.That(e.Signal, Is.Null);
        Assert.That(e.Pid, Is.GreaterThan(0));
        Assert.That(e, Is.InstanceOf<BrokenPoolException>());
        Assert.That(await Bounded(pool.ApplyAsync<long>("fixtures.calc:add", 1, 2)), Is.EqualTo(3));
    }

    [Test]
    public async Task Killed_worker_fails_the_call_with_the_signal_and_the_pool_goes_on()
    {
        await using var pool = CreatePool(1);
        long before = await Bounded(pool.ApplyAsync<long>("fixtures.calc:pid", [null], Timeout));
        var e = Assert.ThrowsAsync<WorkerCrashedException>(() => Bounded(pool.ApplyAsync<long>("fixtures.errors:kill_self", [null], Timeout)));
        Assert.That(e!.Signal, Is.EqualTo(9));
        Assert.That(e.ExitCode, Is.Null);
        Assert.That(e.Pid, Is.EqualTo(before));
        Assert.That(e.Message, Does.Contain(before.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        long after = await Bounded(pool.ApplyAsync<long>("fixtures.calc:pid", [null], Timeout));
        Assert.That(after, Is.Not.EqualTo(before));
    }

    [Test]
    public async Task Segfault_in_a_worker_is_reported_as_signal_11()
    {
        await using var pool = CreatePool(1);
        var e = Assert.ThrowsAsync<WorkerCrashedException>(() => Bounded(pool.ApplyAsync<long>("fixtures.errors:segfault", [null], Timeout)));
        Assert.That(e!.Signal, Is.EqualTo(11));
        Assert.That(await Bounded(pool.ApplyAsync<long>("fixtures.calc:add", 2, 2)), Is.EqualTo(4));
    }

    [Test]
    public async Task Crash_fails_only_the_calls_on_that_worker()
    {
        await using var pool = CreatePool(2);
        var ok = pool.MapAsync<long, long>("fixtures.calc:delayed", [5, 5, 5, 5], 1, Timeout);
        var crash = pool.ApplyAsync<long>("fixtures.errors:exit_with", [7L], Timeout);
        Assert.ThrowsAsync<WorkerCrashedException>(() => Bounded(crash));
        // The map may or may not have had a chunk on the dead worker; if it did, that is a crash too.
        try
        {
            Assert.That(await Bounded(ok), Is.EqualTo(new long[] { 5, 5, 5, 5 }));
        }
        catch (WorkerCrashedException)
        {
        }
        Assert.That(await Bounded(pool.ApplyAsync<long>("fixtures.calc:add", 1, 1)), Is.EqualTo(2));
    }

    // ------------------------------------------------------------ 3. misuse

    [Test]
    public void Misuse_throws_plain_exceptions()
    {
        Assert.Throws<ArgumentNullException>(() => _pool.ApplyAsync<long>(null!, 1));
        Assert.Throws<ArgumentException>(() => _pool.ApplyAsync<long>("no_colon_here", 1));
        Assert.Throws<ArgumentException>(() => _pool.ApplyAsync<long>("a:b:c", 1));
        Assert.Throws<ArgumentException>(() => DotNetMethod.Of("NoDots"));
        Assert.Throws<ArgumentException>(() => DotNetMethod.Of("A.B.C@relative/path.dll"));
        Assert.Throws<ArgumentException>(() => _pool.ApplyAsync<long>("fixtures.calc:add", 1, CancellationToken.None));
        Assert.Throws<ArgumentOutOfRangeException>(() => _pool.MapAsync<long, long>("fixtures.calc:square", [1], -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => _pool.ImapAsync<long, long>("fixtures.calc:square", [1], 0));
        Assert.Throws<ArgumentNullException>(() => _pool.MapAsync<long, long>("fixtures.calc:square", null!));
        Assert.Throws<ArgumentException>(() => DotNetMethod.Of((Func<int>)(() => 1)));
    }
}
