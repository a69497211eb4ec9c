namespace Bridge.Internal;

/// <summary>
/// Closes the segments that arguments of one call mapped (ext 3 → <see cref="Memory{T}"/>/<see cref="Span{T}"/>)
/// when the call is over: the .NET worker wraps each task in <c>using (ShmCallScope.Begin())</c>.
/// Outside a scope such a mapping stays until the process exits.
/// </summary>
/// <remarks>Per thread; scopes nest (the outermost one closes).</remarks>
internal static class ShmCallScope
{
    [ThreadStatic]
    private static List<SharedMemorySegment>? t_open;

    [ThreadStatic]
    private static int t_depth;

    /// <summary>Starts a scope on this thread.</summary>
    public static Scope Begin()
    {
        t_depth++;
        return new Scope(true);
    }

    /// <summary>Whether a scope is active on this thread.</summary>
    public static bool Active => t_depth > 0;

    /// <summary>Closes <paramref name="segment"/> when the current scope ends; false if no scope is active.</summary>
    public static bool Track(SharedMemorySegment segment)
    {
        if (t_depth == 0)
        {
            return false;
        }
        (t_open ??= new()).Add(segment);
        return true;
    }

    private static void End()
    {
        if (--t_depth > 0 || t_open is not { Count: > 0 } open)
        {
            return;
        }
        foreach (var segment in open)
        {
            segment.Dispose();
        }
        open.Clear();
    }

    /// <summary>An active scope; Dispose ends it.</summary>
    public readonly struct Scope : IDisposable
    {
        private readonly bool _active;

        internal Scope(bool active) => _active = active;

        /// <summary>Ends the scope, closing the segments mapped within it.</summary>
        public void Dispose()
        {
            if (_active)
            {
                End();
            }
        }
    }
}
