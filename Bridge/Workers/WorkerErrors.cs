using System.Reflection;
using Bridge.Protocol;

namespace Bridge.Workers;

/// <summary>A TASK target (or initializer) could not be found: the ERROR kind <c>"target"</c>.</summary>
internal sealed class TargetNotFoundException(string message, string dotnetType = "System.MissingMethodException", Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The .NET type name reported in the error map (<c>System.TypeLoadException</c>, <c>System.MissingMethodException</c>, …).</summary>
    public string DotNetType { get; } = dotnetType;
}

/// <summary>The arguments of a call do not fit the method: the ERROR kind <c>"args"</c>.</summary>
internal sealed class ArgumentBindingException(string message, string dotnetType, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>The .NET type name reported in the error map.</summary>
    public string DotNetType { get; } = dotnetType;
}

/// <summary>Builds the protocol's error maps (PROTOCOL.md "ERROR map") from .NET exceptions.</summary>
internal static class WorkerErrors
{
    private const int MaxCauses = 16;

    /// <summary>The map of an exception the method raised, with its InnerException chain as causes.</summary>
    public static ErrorMap Raised(Exception exception, int? index)
    {
        exception = Unwrap(exception);
        var map = FromException(exception, "raised", index);
        var current = map;
        var inner = exception.InnerException;
        for (int depth = 0; inner is not null && depth < MaxCauses; depth++)
        {
            current.Cause = FromException(inner, "raised", null);
            current = current.Cause;
            inner = inner.InnerException;
        }
        return map;
    }

    /// <summary>A map for a failure that is not the method's own: kind <c>args</c>, <c>target</c>, <c>result</c>.</summary>
    public static ErrorMap Plain(string dotnetType, string message, string kind, int? index) => new()
    {
        Type = dotnetType,
        Message = message,
        Traceback = "",
        Kind = kind,
        Index = index,
    };

    /// <summary>The exception a reflection-based call wrapped, if any.</summary>
    public static Exception Unwrap(Exception exception)
    {
        while (exception is TargetInvocationException { InnerException: { } inner })
        {
            exception = inner;
        }
        return exception;
    }

    private static ErrorMap FromException(Exception exception, string kind, int? index) => new()
    {
        Type = exception.GetType().FullName ?? exception.GetType().Name,
        Message = exception.Message,
        Traceback = FormatTraceback(exception),
        Kind = kind,
        Index = index,
    };

    /// <summary>
    /// <c>Type: message</c> then the stack trace, without the worker's own invoker frame
    /// (what Python shows as the remote traceback).
    /// </summary>
    public static string FormatTraceback(Exception exception)
    {
        var header = $"{exception.GetType().FullName}: {exception.Message}";
        var stack = exception.StackTrace;
        if (string.IsNullOrEmpty(stack))
        {
            return header + "\n";
        }
        var lines = stack.Split('\n');
        var kept = new List<string>(lines.Length);
        foreach (var line in lines)
        {
            var trimmed = line.TrimEnd('\r');
            if (trimmed.Contains(MethodOverload.InvokerName, StringComparison.Ordinal)
                || trimmed.Contains(" Bridge.Workers.", StringComparison.Ordinal))
            {
                continue;
            }
            kept.Add(trimmed);
        }
        while (kept.Count > 0 && kept[^1].TrimStart().StartsWith("---", StringComparison.Ordinal))
        {
            kept.RemoveAt(kept.Count - 1);
        }
        return header + "\n" + string.Join("\n", kept) + "\n";
    }
}
