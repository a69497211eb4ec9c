namespace Bridge.Samples;

/// <summary>The Mandelbrot set over [-2, 1] × [-1.5, 1.5], one row per call.</summary>
public static class Mandelbrot
{
    /// <summary>
    /// Iteration counts of row <paramref name="y"/> of a <paramref name="width"/> × <paramref name="height"/>
    /// image: pixel (x, y) is c = (-2 + 3x/width) + (-1.5 + 3y/height)i, and its count is the number
    /// of steps z ← z² + c (from z = 0) taken while |z|² ≤ 4, at most <paramref name="maxIter"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">A non-positive width or height, or a negative maxIter.</exception>
    public static int[] Row(int y, int width, int height, int maxIter)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(width);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(height);
        ArgumentOutOfRangeException.ThrowIfNegative(maxIter);
        var row = new int[width];
        double ci = -1.5 + 3.0 * y / height;
        for (int x = 0; x < width; x++)
        {
            double cr = -2.0 + 3.0 * x / width;
            double zr = 0, zi = 0;
            int n = 0;
            while (n < maxIter)
            {
                double zr2 = zr * zr, zi2 = zi * zi;
                if (zr2 + zi2 > 4.0)
                {
                    break;
                }
                zi = 2.0 * zr * zi + ci;
                zr = zr2 - zi2 + cr;
                n++;
            }
            row[x] = n;
        }
        return row;
    }
}
