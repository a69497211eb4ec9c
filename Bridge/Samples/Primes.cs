namespace Bridge.Samples;

/// <summary>
/// Counting primes by trial division: the CPU-bound demo. The algorithm is the one a pure-Python
/// demo uses (odd divisors up to the square root), so a comparison measures the runtimes, not
/// the algorithms:
/// <code>
/// def is_prime(n):
///     if n &lt; 2: return False
///     if n % 2 == 0: return n == 2
///     d = 3
///     while d * d &lt;= n:
///         if n % d == 0: return False
///         d += 2
///     return True
/// </code>
/// </summary>
public static class Primes
{
    /// <summary>The number of primes in [<paramref name="lo"/>, <paramref name="hi"/>).</summary>
    public static long Count(long lo, long hi)
    {
        long count = 0;
        for (long n = Math.Max(lo, 0); n < hi; n++)
        {
            if (IsPrime(n))
            {
                count++;
            }
        }
        return count;
    }

    /// <summary>
    /// The number of primes in each range [bounds[i], bounds[i+1]) of consecutive bounds
    /// (<c>bounds.Length - 1</c> counts; none for fewer than two bounds).
    /// </summary>
    public static long[] CountRange(long[] bounds)
    {
        if (bounds.Length < 2)
        {
            return [];
        }
        var counts = new long[bounds.Length - 1];
        for (int i = 0; i < counts.Length; i++)
        {
            counts[i] = Count(bounds[i], bounds[i + 1]);
        }
        return counts;
    }

    /// <summary>Whether <paramref name="n"/> is prime (trial division by odd numbers up to √n).</summary>
    /// <remarks>Below 2³¹ the same loop runs on 32-bit integers (a 32-bit division is about twice as fast).</remarks>
    public static bool IsPrime(long n)
    {
        if (n < 2)
        {
            return false;
        }
        if (n <= int.MaxValue)
        {
            return IsPrime32((uint)n);
        }
        if (n % 2 == 0)
        {
            return n == 2;
        }
        for (long d = 3; d * d <= n; d += 2)
        {
            if (n % d == 0)
            {
                return false;
            }
        }
        return true;
    }

    private static bool IsPrime32(uint n)
    {
        if (n % 2 == 0)
        {
            return n == 2;
        }
        for (uint d = 3; d * d <= n; d += 2)
        {
            if (n % d == 0)
            {
                return false;
            }
        }
        return true;
    }
}
