namespace Bridge.Samples;

/// <summary>Trivial methods for latency benchmarks and smoke tests.</summary>
public static class Echo
{
    /// <summary>Returns <paramref name="x"/>.</summary>
    public static long Identity(long x) => x;

    /// <summary>Returns <paramref name="a"/> + <paramref name="b"/> (checked: overflow throws).</summary>
    /// <exception cref="OverflowException">The sum does not fit a long.</exception>
    public static long Add(long a, long b) => checked(a + b);

    /// <summary>Does nothing (the result is nil).</summary>
    public static void Nothing()
    {
    }

    /// <summary>Returns any value unchanged, as the untyped graph the worker decoded (a round trip of the codec).</summary>
    public static object? Value(object? x) => x;

    /// <summary>Returns the bytes unchanged.</summary>
    public static byte[] Bytes(byte[] data) => data;

    /// <summary>Returns the string unchanged.</summary>
    public static string Text(string s) => s;

    /// <summary>Waits <paramref name="milliseconds"/> ms asynchronously, then returns <paramref name="x"/> (a Task result).</summary>
    public static async Task<long> DelayAsync(int milliseconds, long x)
    {
        await Task.Delay(milliseconds).ConfigureAwait(false);
        return x;
    }

    /// <summary>Blocks the worker for <paramref name="milliseconds"/> ms, then returns it.</summary>
    public static int Sleep(int milliseconds)
    {
        Thread.Sleep(milliseconds);
        return milliseconds;
    }
}
