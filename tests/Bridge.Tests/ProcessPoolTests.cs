using System.Diagnostics;
using System.Numerics;

namespace Bridge.Tests;

/// <summary>The public C# API end to end: real Python and .NET worker processes.</summary>
public class ProcessPoolTests : ProcessPoolTestBase
{
    private ProcessPool _pool = null!;

    [OneTimeSetUp]
    public void CreateSharedPool() => _pool = CreatePool(2);

    [OneTimeTearDown]
    public void DisposeSharedPool() => _pool?.Dispose();

    // ------------------------------------------------------------ calls

    [Test]
    public async Task Apply_runs_a_python_function()
    {
        long sum = await Bounded(_pool.ApplyAsync<long>("fixtures.calc:add", 2, 40));
        Assert.That(sum, Is.EqualTo(42));
    }

    [Test]
    public async Task Apply_of_a_builtin()
    {
        long p = await Bounded(_pool.ApplyAsync<long>("builtins:pow", 2, 10));
        Assert.That(p, Is.EqualTo(1024));
    }

    [Test]
    public async Task Apply_runs_in_another_process()
    {
        long pid = await Bounded(_pool.ApplyAsync<long>("fixtures.calc:pid", [null], Timeout));
        Assert.That(pid, Is.Not.EqualTo(Environment.ProcessId).And.GreaterThan(0));
    }

    [Test]
    public async Task Map_returns_results_in_order([Values(0, 1, 7)] int chunksize)
    {
        var items = Enumerable.Range(0, 50).Select(i => (long)i).ToList();
        long[] squares = await Bounded(_pool.MapAsync<long, long>("fixtures.calc:square", items, chunksize, Timeout));
        Assert.That(squares, Is.EqualTo(items.Select(i => i * i).ToArray()));
    }

    [Test]
    public async Task Map_runs_chunks_on_all_workers_at_once()
    {
        // Four 0.5 s sleeps on two workers: about 1 s, not 2 s.
        var sw = Stopwatch.StartNew();
        long[] results = await Bounded(_pool.MapAsync<long, long>("fixtures.calc:delayed", [50, 50, 50, 50], 1, Timeout));
        Assert.That(results, Is.EqualTo(new long[] { 50, 50, 50, 50 }));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(1.9)));
        var pids = await Bounded(_pool.MapAsync<long, long>("fixtures.calc:sleep_then_pid", [30, 30, 30, 30], 1, Timeout));
        Assert.That(pids.Distinct().Count(), Is.EqualTo(2));
    }

    [Test]
    public async Task Map_of_nothing_is_empty()
    {
        var results = await Bounded(_pool.MapAsync<long, long>("fixtures.calc:square", [], cancellationToken: Timeout));
        Assert.That(results, Is.Empty);
    }

    [Test]
    public async Task Starmap_unpacks_arguments()
    {
        var calls = Enumerable.Range(0, 20).Select(i => new object?[] { (long)i, 100L }).ToList();
        long[] sums = await Bounded(_pool.StarmapAsync<long>("fixtures.calc:add", calls, 3, Timeout));
        Assert.That(sums, Is.EqualTo(Enumerable.Range(100, 20).Select(i => (long)i).ToArray()));
    }

    [Test]
    public async Task Imap_yields_in_order([Values(1, 4)] int chunksize)
    {
        var items = new long[] { 30, 0, 20, 0, 10, 0 };
        var results = await ToListAsync(_pool.ImapAsync<long, long>("fixtures.calc:delayed", items, chunksize, Timeout));
        Assert.That(results, Is.EqualTo(items));
    }

    [Test]
    public async Task Imap_unordered_yields_the_fast_ones_first()
    {
        // One slow item first, then fast ones: with two workers the slow one cannot come out first.
        var items = new long[] { 60, 0, 0, 0, 0, 0 };
        var results = await ToListAsync(_pool.ImapUnorderedAsync<long, long>("fixtures.calc:delayed", items, 1, Timeout));
        Assert.That(results, Is.EquivalentTo(items));
        // (A fast item prefetched behind the slow one on the same worker may come after it.)
        Assert.That(results[0], Is.EqualTo(0));
        Assert.That(results.IndexOf(60), Is.GreaterThan(0));
    }

    [Test]
    public async Task Imap_left_early_does_not_break_the_pool()
    {
        var items = Enumerable.Range(0, 30).Select(i => 2L).ToList();
        await foreach (var x in _pool.ImapAsync<long, long>("fixtures.calc:delayed", items, 1, Timeout))
        {
            Assert.That(x, Is.EqualTo(2));
            break;
        }
        Assert.That(await Bounded(_pool.ApplyAsync<long>("fixtures.calc:add", 1, 1)), Is.EqualTo(2));
    }

    [Test]
    public async Task Imap_streams_an_endless_input()
    {
        static IEnumerable<long> Naturals()
        {
            for (long i = 0; ; i++)
            {
                yield return i;
            }
        }
        var seen = new List<long>();
        await foreach (var x in _pool.ImapAsync<long, long>("fixtures.calc:square", Naturals(), 3, Timeout))
        {
            seen.Add(x);
            if (seen.Count == 100)
            {
                break;
            }
        }
        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 100).Select(i => (long)i * i).ToList()));
    }

    [Test]
    public async Task Imap_of_nothing_is_empty([Values(true, false)] bool ordered)
    {
        var items = ordered
            ? _pool.ImapAsync<long, long>("fixtures.calc:square", [], 1, Timeout)
            : _pool.ImapUnorderedAsync<long, long>("fixtures.calc:square", [], 1, Timeout);
        Assert.That(await ToListAsync(items), Is.Empty);
    }

    [Test]
    public async Task Imap_of_many_items_in_chunks([Values(1, 10)] int chunksize)
    {
        var items = Enumerable.Range(0, 1000).Select(i => (long)i);
        var results = await ToListAsync(_pool.ImapAsync<long, long>("fixtures.calc:neg", items, chunksize, Timeout));
        Assert.That(results, Is.EqualTo(Enumerable.Range(0, 1000).Select(i => -(long)i).ToList()));
        var unordered = await ToListAsync(_pool.ImapUnorderedAsync<long, long>("fixtures.calc:neg", items, chunksize, Timeout));
        Assert.That(unordered, Is.EquivalentTo(results));
    }

    [Test]
    public void Imap_error_surfaces_at_its_item()
    {
        var seen = new List<long>();
        var e = Assert.ThrowsAsync<PythonException>(async () =>
        {
            await foreach (var x in _pool.ImapAsync<object, long>("fixtures.calc:neg", [1L, 2L, "three", 4L], 1, Timeout))
            {
                seen.Add(x);
            }
        });
        Assert.That(e!.PythonType, Is.EqualTo("builtins.TypeError"));
        Assert.That(seen, Is.EqualTo(new List<long> { -1, -2 }));
    }

    [Test]
    public async Task Typed_function_handles()
    {
        var square = _pool.GetFunction<long, long>("fixtures.calc:square");
        var add = _pool.GetFunction<string, string, string>("fixtures.calc:add");
        var pid = _pool.GetFunction<long>("fixtures.calc:pid");
        Assert.That(await Bounded(square(9)), Is.EqualTo(81));
        Assert.That(await Bounded(add("a", "b")), Is.EqualTo("ab"));
        Assert.That(await Bounded(pid(Timeout)), Is.GreaterThan(0));
        var cancellable = _pool.GetCancellableFunction<long, long>("fixtures.calc:neg");
        Assert.That(await Bounded(cancellable(5, Timeout)), Is.EqualTo(-5));
    }

    [Test]
    public async Task Many_concurrent_applies_all_complete()
    {
        var tasks = Enumerable.Range(0, 200).Select(i => _pool.ApplyAsync<long>("fixtures.calc:add", [(long)i, 1L], Timeout)).ToArray();
        long[] results = await Bounded(Task.WhenAll(tasks));
        Assert.That(results, Is.EqualTo(Enumerable.Range(1, 200).Select(i => (long)i).ToArray()));
    }

    // ------------------------------------------------------------ .NET methods

    [Test]
    public async Task Dotnet_method_runs_in_a_dotnet_worker()
    {
        long count = await Bounded(_pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), 0L, 100L));
        Assert.That(count, Is.EqualTo(25));
    }

    [Test]
    public async Task Dotnet_method_from_a_delegate()
    {
        long count = await Bounded(_pool.ApplyAsync<long>(DotNetMethod.Of(Bridge.Samples.Primes.Count), 0L, 1000L));
        Assert.That(count, Is.EqualTo(168));
    }

    [Test]
    public async Task Dotnet_map_over_ranges()
    {
        var ranges = Enumerable.Range(0, 10).Select(i => new object?[] { i * 1000L, (i + 1) * 1000L }).ToList();
        long[] counts = await Bounded(_pool.StarmapAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), ranges, 0, Timeout));
        Assert.That(counts.Sum(), Is.EqualTo(1229));
        Assert.That(counts[0], Is.EqualTo(168));
    }

    [Test]
    public async Task Dotnet_and_python_give_the_same_prime_counts()
    {
        long python = await Bounded(_pool.ApplyAsync<long>("fixtures.cpu:count_primes", 0L, 20_000L));
        long dotnet = await Bounded(_pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Primes.Count"), 0L, 20_000L));
        Assert.That(python, Is.EqualTo(2262));
        Assert.That(dotnet, Is.EqualTo(python));
    }

    // ------------------------------------------------------------ conversions (round trip through Python)

    private Task<T> Identity<T>(T value) => Bounded(_pool.ApplyAsync<T>("fixtures.calc:identity", [value], Timeout));

    private Task<string> PythonType(object? value) => Bounded(_pool.ApplyAsync<string>("fixtures.calc:type_name", [value], Timeout));

    [Test]
    public async Task Null_round_trips()
    {
        Assert.That(await Identity<object?>(null), Is.Null);
        Assert.That(await Identity<string?>(null), Is.Null);
        Assert.That(await Identity<long?>(null), Is.Null);
        Assert.That(await PythonType(null), Is.EqualTo("NoneType"));
    }

    [Test]
    public async Task Scalars_round_trip()
    {
        Assert.That(await Identity(true), Is.True);
        Assert.That(await Identity(false), Is.False);
        Assert.That(await Identity(0L), Is.EqualTo(0L));
        Assert.That(await Identity(-7), Is.EqualTo(-7));
        Assert.That(await Identity(long.MinValue), Is.EqualTo(long.MinValue));
        Assert.That(await Identity(long.MaxValue), Is.EqualTo(long.MaxValue));
        Assert.That(await Identity(ulong.MaxValue), Is.EqualTo(ulong.MaxValue));
        Assert.That(await Identity((byte)255), Is.EqualTo((byte)255));
        Assert.That(await Identity((short)-300), Is.EqualTo((short)-300));
        Assert.That(await Identity(3.25), Is.EqualTo(3.25));
        Assert.That(await Identity(double.NegativeInfinity), Is.EqualTo(double.NegativeInfinity));
        Assert.That(await Identity(1.5f), Is.EqualTo(1.5f));
        Assert.That(await Identity("héllo wörld ✓ 𝄞"), Is.EqualTo("héllo wörld ✓ 𝄞"));
        Assert.That(await Identity(""), Is.EqualTo(""));
        Assert.That(await PythonType(true), Is.EqualTo("bool"));
        Assert.That(await PythonType(1L), Is.EqualTo("int"));
        Assert.That(await PythonType(1.0), Is.EqualTo("float"));
        Assert.That(await PythonType("s"), Is.EqualTo("str"));
    }

    [Test]
    public async Task Big_integers_round_trip_as_python_ints()
    {
        var big = BigInteger.Pow(2, 100) + 12345;
        Assert.That(await Identity(big), Is.EqualTo(big));
        Assert.That(await Identity(-big), Is.EqualTo(-big));
        Assert.That(await PythonType(big), Is.EqualTo("int"));
        // A Python int computed remotely beyond 64 bits comes back as a BigInteger.
        var pow = await Bounded(_pool.ApplyAsync<BigInteger>("builtins:pow", 3L, 100L));
        Assert.That(pow, Is.EqualTo(BigInteger.Pow(3, 100)));
        // and as object: BigInteger too
        var boxed = await Bounded(_pool.ApplyAsync<object>("builtins:pow", 2L, 70L));
        Assert.That(boxed, Is.EqualTo(BigInteger.Pow(2, 70)));
    }

    [Test]
    public async Task Bytes_round_trip()
    {
        byte[] data = [0, 1, 2, 255, 128];
        Assert.That(await Identity(data), Is.EqualTo(data));
        Assert.That(await Identity(Array.Empty<byte>()), Is.Empty);
        Assert.That(await PythonType(data), Is.EqualTo("bytes"));
    }

    [Test]
    public async Task Arrays_and_lists_round_trip()
    {
        long[] longs = [1, -2, 3, long.MaxValue];
        double[] doubles = [0.5, -1.25, double.MaxValue];
        string[] strings = ["a", "b", "ç"];
        Assert.That(await Identity(longs), Is.EqualTo(longs));
        Assert.That(await Identity(doubles), Is.EqualTo(doubles));
        Assert.That(await Identity(strings), Is.EqualTo(strings));
        Assert.That(await Identity(new List<long> { 4, 5, 6 }), Is.EqualTo(new List<long> { 4, 5, 6 }));
        Assert.That(await Identity(new List<string> { "x" }), Is.EqualTo(new List<string> { "x" }));
        Assert.That(await Identity(new List<object?> { 1L, "two", null, 3.0 }), Is.EqualTo(new List<object?> { 1L, "two", null, 3.0 }));
        Assert.That(await PythonType(new List<long> { 1 }), Is.EqualTo("list"));
        // Primitive arrays travel as ext 2: Python sees a numpy array when numpy is installed.
        Assert.That(await PythonType(longs), Is.AnyOf("ndarray", "list"));
        // A Python list of ints converts to a long[] as well.
        long[] fromList = await Bounded(_pool.ApplyAsync<long[]>("fixtures.calc:echo_args", 1L, 2L, 3L));
        Assert.That(fromList, Is.EqualTo(new long[] { 1, 2, 3 }));
    }

    [Test]
    public async Task Dictionaries_round_trip()
    {
        var map = new Dictionary<string, long> { ["one"] = 1, ["two"] = 2 };
        Assert.That(await Identity(map), Is.EqualTo(map));
        var byInt = new Dictionary<long, string> { [1] = "a", [-5] = "b" };
        Assert.That(await Identity(byInt), Is.EqualTo(byInt));
        var nested = new Dictionary<string, List<double>> { ["xs"] = [1.0, 2.5], ["empty"] = [] };
        var back = await Identity(nested);
        Assert.That(back.Keys, Is.EquivalentTo(nested.Keys));
        Assert.That(back["xs"], Is.EqualTo(nested["xs"]));
        Assert.That(back["empty"], Is.Empty);
        Assert.That(await PythonType(map), Is.EqualTo("dict"));
    }

    [Test]
    public async Task Tuples_round_trip_by_position()
    {
        var pair = (42L, "answer");
        Assert.That(await Identity(pair), Is.EqualTo(pair));
        var triple = Tuple.Create(1L, 2.5, true);
        Assert.That(await Identity(triple), Is.EqualTo(triple));
        Assert.That(await PythonType(pair), Is.EqualTo("list"));
    }

    [Test]
    public async Task The_examples_of_CONVERSIONS_md_hold()
    {
        long n = await Bounded(_pool.ApplyAsync<long>("builtins:len", "hello"));
        BigInteger b = await Bounded(_pool.ApplyAsync<BigInteger>("builtins:pow", 3, 100));
        double[] xs = await Bounded(_pool.ApplyAsync<double[]>("builtins:sorted", new[] { 3.0, 1.0 }));
        var d = await Bounded(_pool.ApplyAsync<Dictionary<string, long>>("builtins:dict", new Dictionary<string, long> { ["a"] = 1 }));
        var (q, r) = await Bounded(_pool.ApplyAsync<(long, long)>("builtins:divmod", 17, 5));
        Assert.That(n, Is.EqualTo(5));
        Assert.That(b, Is.EqualTo(BigInteger.Pow(3, 100)));
        Assert.That(xs, Is.EqualTo(new[] { 1.0, 3.0 }));
        Assert.That(d, Is.EqualTo(new Dictionary<string, long> { ["a"] = 1 }));
        Assert.That((q, r), Is.EqualTo((3L, 2L)));
        char c = await Bounded(_pool.ApplyAsync<char>("fixtures.calc:identity", 'x'));
        Assert.That(c, Is.EqualTo('x'));
        var untyped = await Bounded(_pool.ApplyAsync<object>("fixtures.calc:identity", new List<object?> { 1L, "s", null, new Dictionary<string, long> { ["k"] = 2 } }));
        Assert.That(untyped, Is.TypeOf<object?[]>());
        var items = (object?[])untyped;
        Assert.That(items[0], Is.EqualTo(1L));
        Assert.That(items[1], Is.EqualTo("s"));
        Assert.That(items[2], Is.Null);
        Assert.That(items[3], Is.TypeOf<Dictionary<object, object?>>());
    }

    [Test]
    public async Task Result_that_does_not_convert_names_both_types()
    {
        var e = Assert.ThrowsAsync<ValueConversionException>(() => Bounded(_pool.ApplyAsync<long>("fixtures.calc:identity", "text")));
        Assert.That(e!.Message, Does.Contain("str").And.Contain("Int64"));
        var overflow = Assert.ThrowsAsync<ValueConversionException>(() => Bounded(_pool.ApplyAsync<int>("builtins:pow", 2L, 40L)));
        Assert.That(overflow!.Message, Does.Contain("Int32"));
        // The pool is fine afterwards.
        Assert.That(await Bounded(_pool.ApplyAsync<long>("fixtures.calc:add", 1, 2)), Is.EqualTo(3));
    }

    [Test]
    public void Argument_without_a_messagepack_form_throws_before_submitting()
    {
        var e = Assert.Throws<ValueConversionException>(() => _pool.ApplyAsync<long>("fixtures.calc:identity", new object()));
        Assert.That(e!.Message, Does.Contain("Object"));
    }

    // ------------------------------------------------------------ options

    [Test]
    public async Task Initializer_runs_in_every_worker()
    {
        await using var pool = CreatePool(1, o =>
        {
            o.Initializer = "fixtures.calc:init";
            o.InitArgs.Add("hello");
        });
        var seen = await Bounded(pool.ApplyAsync<List<string>>("fixtures.calc:initialized", [null], Timeout));
        Assert.That(seen, Is.EqualTo(new List<string> { "hello" }));
    }

    [Test]
    public async Task Max_tasks_per_child_replaces_workers()
    {
        await using var pool = CreatePool(1, o => o.MaxTasksPerChild = 2);
        var pids = new List<long>();
        for (int i = 0; i < 4; i++)
        {
            pids.Add(await Bounded(pool.ApplyAsync<long>("fixtures.calc:pid", [null], Timeout)));
        }
        Assert.That(pids[0], Is.EqualTo(pids[1]));
        Assert.That(pids[2], Is.EqualTo(pids[3]));
        Assert.That(pids[2], Is.Not.EqualTo(pids[0]));
    }

    [Test]
    public async Task Environment_option_reaches_the_workers()
    {
        await using var pool = CreatePool(1, o =>
        {
            o.Environment["DOTBRIDGE_TEST_VALUE"] = "from C#";
            o.PrestartPython = true;
        });
        Assert.That(await Bounded(pool.ApplyAsync<string>("os:getenv", "DOTBRIDGE_TEST_VALUE")), Is.EqualTo("from C#"));
    }

    [Test]
    public async Task Dotnet_worker_command_can_be_overridden()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "Bridge.dll");
        await using var pool = CreatePool(1, o =>
        {
            o.DotNetWorker.Add("dotnet");
            o.DotNetWorker.Add(dll);
        });
        Assert.That(await Bounded(pool.ApplyAsync<long>(DotNetMethod.Of("Bridge.Samples.Echo.Add"), 2L, 3L)), Is.EqualTo(5));
    }

    [Test]
    public void Options_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProcessPool(new ProcessPoolOptions { Processes = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ProcessPool(new ProcessPoolOptions { MaxTasksPerChild = 0 }));
        Assert.Throws<ArgumentNullException>(() => new ProcessPool(null!));
    }

    [Test]
    public async Task Missing_python_executable_fails_calls_with_broken_pool()
    {
        await using var pool = CreatePool(1, o => o.PythonExecutable = "/nonexistent/python3");
        var sw = Stopwatch.StartNew();
        Assert.ThrowsAsync<BrokenPoolException>(() => Bounded(pool.ApplyAsync<long>("fixtures.calc:add", 1, 2)));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)));
    }
}
