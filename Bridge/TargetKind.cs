namespace Bridge;

/// <summary>Which kind of worker process runs a <see cref="Target"/>.</summary>
public enum TargetKind
{
    /// <summary>A Python callable, run in a Python worker process.</summary>
    Python = 0,

    /// <summary>A public static .NET method, run in a .NET worker process.</summary>
    DotNet = 1,
}
