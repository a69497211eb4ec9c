namespace Bridge.Tests;

/// <summary>
/// C# methods the Python tests and the benchmark call through the pool with numpy arrays that live in
/// shared memory (ext 3): <c>dotbridge.dotnet.method("Bridge.Tests.SharedMemoryFixtures.SumAndScale", assembly=".../Bridge.Tests.dll")</c>.
/// </summary>
public static class SharedMemoryFixtures
{
    /// <summary>Returns the sum of <paramref name="data"/>, then multiplies every element by <paramref name="factor"/> in place
    /// (<see cref="Bridge.Samples.Arrays.SumAndScale"/>).</summary>
    public static double SumAndScale(Memory<double> data, double factor) => Bridge.Samples.Arrays.SumAndScale(data, factor);

    /// <summary>The same with a <see cref="Span{T}"/> parameter.</summary>
    public static double SumAndScaleSpan(Span<double> data, double factor) => Bridge.Samples.Arrays.SumAndScaleSpan(data, factor);

    /// <summary>The same with an array parameter (a copy: writes stay here).</summary>
    public static double SumAndScaleArray(double[] data, double factor) => SumAndScaleSpan(data, factor);

    /// <summary>Doubles every element of <paramref name="data"/> in place; returns the sum before (one argument, for map/imap).</summary>
    public static double DoubleInPlace(Span<double> data) => SumAndScaleSpan(data, 2.0);

    /// <summary>The sum of an <c>int[]</c> (a copy of the caller's int32 array) as a long.</summary>
    public static long SumInts(int[] data)
    {
        long sum = 0;
        foreach (int x in data)
        {
            sum += x;
        }
        return sum;
    }

    /// <summary>Multiplies every element of <paramref name="data"/> by <paramref name="factor"/> in place; returns the element count.</summary>
    public static int ScaleInts(Span<int> data, int factor)
    {
        for (int i = 0; i < data.Length; i++)
        {
            data[i] *= factor;
        }
        return data.Length;
    }

    /// <summary>Sleeps <paramref name="milliseconds"/> ms, then scales <paramref name="data"/> in place; returns its length (a window to kill the worker in).</summary>
    public static int SleepThenScale(Span<double> data, int milliseconds, double factor)
    {
        Thread.Sleep(milliseconds);
        SumAndScaleSpan(data, factor);
        return data.Length;
    }

    /// <summary>Scales <paramref name="data"/> in place by <paramref name="factor"/>, then throws.</summary>
    /// <exception cref="InvalidOperationException">Always, after the writes.</exception>
    public static double ScaleThenThrow(Span<double> data, double factor)
    {
        SumAndScaleSpan(data, factor);
        throw new InvalidOperationException($"scaled {data.Length} elements, then failed on purpose");
    }

    /// <summary>Adds <paramref name="n"/> to a <c>dotbridge.Value('q')</c> described by <paramref name="descriptor"/>, one by one under its lock.</summary>
    public static long AddToSharedValue(string descriptor, int n)
    {
        using var value = SharedValue<long>.Open(descriptor);
        var gate = value.GetLock() ?? throw new ArgumentException("the value has no lock", nameof(descriptor));
        for (int i = 0; i < n; i++)
        {
            using (gate.EnterScope())
            {
                value.Raw += 1;
            }
        }
        return value.Value;
    }

    /// <summary>Tries to take a Python <c>Lock</c> by name within <paramref name="timeoutMs"/>; releases it again if taken.</summary>
    public static bool TryAcquireLock(string name, int timeoutMs)
    {
        using var gate = SharedLock.Open(name);
        if (!gate.TryAcquire(TimeSpan.FromMilliseconds(timeoutMs)))
        {
            return false;
        }
        gate.Release();
        return true;
    }
}
