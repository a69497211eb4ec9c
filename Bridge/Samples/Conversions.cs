using System.Numerics;

namespace Bridge.Samples;

/// <summary>
/// One small method per conversion of the value table (Bridge/PROTOCOL.md "Values"), used by the
/// tests of both languages and as examples.
/// </summary>
public static class Conversions
{
    /// <summary>The sum of an array (a msgpack array or an ext 2 float64 array / numpy array).</summary>
    public static double Sum(double[] xs)
    {
        double s = 0;
        foreach (var x in xs)
        {
            s += x;
        }
        return s;
    }

    /// <summary>The sum of a span parameter (filled from an ext 2 array or a msgpack array).</summary>
    public static double SumSpan(ReadOnlySpan<double> xs)
    {
        double s = 0;
        foreach (var x in xs)
        {
            s += x;
        }
        return s;
    }

    /// <summary>Multiplies every element by <paramref name="factor"/> in place and returns the array (an ext 2 result).</summary>
    public static double[] Scale(double[] xs, double factor)
    {
        ScaleInPlace(xs, factor);
        return xs;
    }

    /// <summary>Multiplies every element of a span by <paramref name="factor"/> in place (nil result).</summary>
    public static void ScaleInPlace(Span<double> xs, double factor)
    {
        for (int i = 0; i < xs.Length; i++)
        {
            xs[i] *= factor;
        }
    }

    /// <summary>The sum of an int32 array (ext 2 int32, or a msgpack array of small ints).</summary>
    public static long SumInts(int[] xs)
    {
        long s = 0;
        foreach (var x in xs)
        {
            s += x;
        }
        return s;
    }

    /// <summary>0, 1, …, n-1 as an int32 array (an ext 2 result).</summary>
    public static int[] Range(int n) => Enumerable.Range(0, n).ToArray();

    /// <summary><paramref name="n"/>! (an ext 1 result beyond 64 bits).</summary>
    /// <exception cref="ArgumentOutOfRangeException">n is negative.</exception>
    public static BigInteger Factorial(int n)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        BigInteger r = BigInteger.One;
        for (int i = 2; i <= n; i++)
        {
            r *= i;
        }
        return r;
    }

    /// <summary><paramref name="x"/> + 1 for any size of integer (int or ext 1 in, either out).</summary>
    public static BigInteger Increment(BigInteger x) => x + 1;

    /// <summary>How often each word occurs (a list in, a map out).</summary>
    public static Dictionary<string, long> WordCounts(IReadOnlyList<string> words)
    {
        var counts = new Dictionary<string, long>();
        foreach (var w in words)
        {
            counts[w] = counts.GetValueOrDefault(w) + 1;
        }
        return counts;
    }

    /// <summary>The keys of a map, sorted (a map in, a list out).</summary>
    public static List<string> SortedKeys(IDictionary<string, long> map)
    {
        var keys = map.Keys.ToList();
        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    /// <summary>Swaps the elements of a pair (a 2-element array in and out).</summary>
    public static (string, long) Swap((long Number, string Text) pair) => (pair.Text, pair.Number);

    /// <summary>Joins strings with a separator (a <c>List&lt;T&gt;</c> parameter and an optional one).</summary>
    public static string Join(List<string> parts, string separator = ", ") => string.Join(separator, parts);

    /// <summary>The bytes reversed (bin in and out).</summary>
    public static byte[] Reverse(ReadOnlyMemory<byte> data)
    {
        var copy = data.ToArray();
        Array.Reverse(copy);
        return copy;
    }

    /// <summary>The character after <paramref name="c"/> (a one-character str in and out).</summary>
    public static char NextChar(char c) => (char)(c + 1);

    /// <summary><paramref name="x"/>, or -1 for nil (a nullable parameter).</summary>
    public static long OrMinusOne(long? x) => x ?? -1;

    /// <summary>The sum of any number of arguments (a <c>params</c> array).</summary>
    public static long SumAll(params long[] xs) => xs.Sum();

    /// <summary>The .NET type the worker made of an untyped argument (<c>Int64</c>, <c>Object[]</c>, <c>Dictionary`2</c>, …).</summary>
    public static string TypeOf(object? x) => x?.GetType().Name ?? "null";

    /// <summary>A byte of 0..255 doubled into a short (a range-checked small integer parameter).</summary>
    public static short DoubleByte(byte b) => (short)(b * 2);
}
