namespace Bridge.Connections;

/// <summary>
/// A pickle that <see cref="PickleValues"/> does not read: it holds something other than the plain
/// values of its table (an object of a Python class, a set, a <c>complex</c>, …), or it is malformed.
/// Nothing in the pickle was run.
/// </summary>
public sealed class PickleFormatException : FormatException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was found and why it is not read.</param>
    /// <param name="pythonType">The Python type the pickle holds (<c>builtins.complex</c>), when known.</param>
    public PickleFormatException(string message, string? pythonType = null)
        : base(message)
    {
        PythonType = pythonType;
    }

    /// <summary>The qualified name of the Python type that could not be read (<c>module.name</c>), or null for a malformed pickle or an unknown opcode.</summary>
    public string? PythonType { get; }
}
