namespace Bridge.Interop;

/// <summary>No usable shared libpython was found. <see cref="Attempts"/> lists what was tried.</summary>
public sealed class PythonNotFoundException : Exception
{
    /// <summary>Creates the exception from the list of attempts.</summary>
    public PythonNotFoundException(IReadOnlyList<string> attempts)
        : base("No shared libpython found. Set PYTHONNET_PYDLL to a libpython*.so or DOTBRIDGE_PYTHON to a Python executable built with --enable-shared. Tried:"
               + (attempts.Count == 0 ? " nothing" : Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", attempts)))
    {
        Attempts = attempts;
    }

    /// <summary>Each candidate that was tried and why it was rejected.</summary>
    public IReadOnlyList<string> Attempts { get; }
}
