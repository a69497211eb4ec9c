namespace Bridge.Interop;

/// <summary>A value could not be converted between Python and .NET. The message names both types.</summary>
public sealed class PythonConversionException : InvalidCastException
{
    /// <summary>Creates the exception. <paramref name="pythonType"/> is null when a .NET value had no Python form.</summary>
    public PythonConversionException(string? pythonType, Type dotnetType, string? detail = null, Exception? innerException = null)
        : base(BuildMessage(pythonType, dotnetType, detail), innerException)
    {
        PythonType = pythonType;
        DotNetType = dotnetType;
    }

    /// <summary>Qualified Python type name (e.g. "str", "collections.OrderedDict"), or null for .NET → Python failures.</summary>
    public string? PythonType { get; }

    /// <summary>The .NET type that was asked for (Python → .NET) or given (.NET → Python).</summary>
    public Type DotNetType { get; }

    private static string BuildMessage(string? pythonType, Type dotnetType, string? detail)
    {
        var head = pythonType is null
            ? $"Cannot convert .NET type '{dotnetType}' to a Python object"
            : $"Cannot convert Python '{pythonType}' to .NET type '{dotnetType}'";
        return detail is null ? head + "." : head + ": " + detail + ".";
    }
}
