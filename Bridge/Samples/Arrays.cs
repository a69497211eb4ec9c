namespace Bridge.Samples;

/// <summary>
/// Methods over numpy arrays (Bridge/SHARED.md "Numpy arrays to C# methods"): a <see cref="Span{T}"/> or
/// <see cref="Memory{T}"/> parameter sees the caller's array in shared memory, so writes are visible to the
/// Python caller; used by <c>scripts/bench_shared.py</c>:
/// <code>
/// sum_and_scale = dotbridge.dotnet.method("Bridge.Samples.Arrays.SumAndScale")
/// total = pool.apply(sum_and_scale, (numpy.ones(10_000_000), 2.0))   # the array is doubled in place
/// </code>
/// </summary>
public static class Arrays
{
    /// <summary>Returns the sum of <paramref name="data"/>, then multiplies every element by <paramref name="factor"/> in place.</summary>
    public static double SumAndScale(Memory<double> data, double factor) => SumAndScaleSpan(data.Span, factor);

    /// <summary>The same with a <see cref="Span{T}"/> parameter.</summary>
    public static double SumAndScaleSpan(Span<double> data, double factor)
    {
        double sum = 0;
        for (int i = 0; i < data.Length; i++)
        {
            sum += data[i];
            data[i] *= factor;
        }
        return sum;
    }
}
