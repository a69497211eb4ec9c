namespace Fixtures.DotNet;

/// <summary>Small methods for the worker tests: overloads, optional parameters, state, output, crashes.</summary>
public static class Methods
{
    private static string? s_initialized;
    private static long s_calls;

    /// <summary>a + b.</summary>
    public static long Add(long a, long b) => a + b;

    /// <summary>A greeting; <paramref name="greeting"/> is optional.</summary>
    public static string Greet(string name, string greeting = "Hello") => $"{greeting}, {name}!";

    /// <summary>Overload for one integer: "long".</summary>
    public static string Overloaded(long x) => $"long {x}";

    /// <summary>Overload for one string: "string".</summary>
    public static string Overloaded(string s) => $"string {s}";

    /// <summary>Overload for two integers: "long,long".</summary>
    public static string Overloaded(long x, long y) => $"long,long {x},{y}";

    /// <summary>The initializer used by INIT tests: remembers <paramref name="value"/>.</summary>
    public static void Init(string value) => s_initialized = value;

    /// <summary>What <see cref="Init"/> stored (null if it did not run in this process).</summary>
    public static string? Initialized() => s_initialized;

    /// <summary>An initializer that fails.</summary>
    /// <exception cref="InvalidOperationException">Always.</exception>
    public static void FailingInit(string message) => throw new InvalidOperationException(message);

    /// <summary>How many times this was called in this worker process (1, 2, …).</summary>
    public static long Count() => Interlocked.Increment(ref s_calls);

    /// <summary>The worker's process id.</summary>
    public static int Pid() => Environment.ProcessId;

    /// <summary>Writes a line to the worker's stdout (which is the user's) and returns its length.</summary>
    public static int Print(string text)
    {
        Console.Out.WriteLine(text);
        return text.Length;
    }

    /// <summary>Ends the worker process at once with <paramref name="code"/> (a crash seen by the pool).</summary>
    public static void Exit(int code) => Environment.Exit(code);

    /// <summary>Blocks for <paramref name="milliseconds"/> ms and returns it.</summary>
    public static int Sleep(int milliseconds)
    {
        Thread.Sleep(milliseconds);
        return milliseconds;
    }

    /// <summary>Throws a <see cref="KeyNotFoundException"/> naming <paramref name="key"/>.</summary>
    /// <exception cref="KeyNotFoundException">Always.</exception>
    public static long Lookup(string key) => throw new KeyNotFoundException($"no key '{key}'");

    /// <summary>a + b as a completed <see cref="ValueTask{TResult}"/>.</summary>
    public static ValueTask<long> AddValueTask(long a, long b) => new(a + b);

    /// <summary>A <see cref="ValueTask"/> that completes after <paramref name="milliseconds"/> ms.</summary>
    public static async ValueTask DelayValueTask(int milliseconds) => await Task.Delay(milliseconds).ConfigureAwait(false);

    /// <summary>A lazy sequence that fails while the worker encodes it (after yielding 1).</summary>
    /// <exception cref="InvalidOperationException">On the second element.</exception>
    public static IEnumerable<int> LazyThrows()
    {
        yield return 1;
        throw new InvalidOperationException("lazy failure");
    }

    /// <summary>A method the worker cannot call (an out parameter).</summary>
    public static bool TryParse(string s, out long value) => long.TryParse(s, out value);
}
