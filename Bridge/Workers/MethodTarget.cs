using MessagePack;

namespace Bridge.Workers;

/// <summary>
/// A resolved TASK target: the public static overloads of one method name on one type. Chooses
/// the overload for each call by argument count, then by convertibility.
/// </summary>
/// <remarks>Used by the worker's single loop thread only.</remarks>
internal sealed class MethodTarget
{
    private readonly MethodOverload[] _overloads;
    private readonly Dictionary<int, MethodOverload[]> _byCount = new();

    public MethodTarget(string name, MethodOverload[] overloads)
    {
        Name = name;
        // Exact parameter counts first, then optional parameters, then params arrays; fewer parameters first.
        _overloads = overloads
            .OrderBy(o => o.HasParamsArray)
            .ThenBy(o => o.Total - o.Required)
            .ThenBy(o => o.Total)
            .ToArray();
    }

    /// <summary><c>Namespace.Type.Method</c>.</summary>
    public string Name { get; }

    /// <summary>
    /// Converts the <paramref name="count"/> arguments at <paramref name="reader"/> for the first
    /// overload that accepts them; the reader ends after the arguments.
    /// </summary>
    /// <exception cref="ArgumentBindingException">No overload takes that many arguments, or the arguments convert for none.</exception>
    public (MethodOverload Overload, object?[] Args) Bind(ref MessagePackReader reader, int count, int maxDepth)
    {
        var candidates = Candidates(count);
        if (candidates.Length == 0)
        {
            throw CountMismatch(count);
        }
        if (candidates.Length == 1)
        {
            return (candidates[0], candidates[0].Bind(ref reader, count, maxDepth));
        }
        var start = reader;
        ArgumentBindingException? first = null;
        foreach (var overload in candidates)
        {
            reader = start;
            try
            {
                return (overload, overload.Bind(ref reader, count, maxDepth));
            }
            catch (ArgumentBindingException e)
            {
                first ??= e;
            }
        }
        throw new ArgumentBindingException(
            $"no overload of {Name} accepts these {count} arguments: {first!.Message}"
            + $" (overloads: {string.Join("; ", candidates.Select(c => c.Signature))})",
            "Bridge.ValueConversionException", first);
    }

    private MethodOverload[] Candidates(int count)
    {
        if (!_byCount.TryGetValue(count, out var list))
        {
            list = _overloads.Where(o => o.Accepts(count)).ToArray();
            _byCount[count] = list;
        }
        return list;
    }

    private ArgumentBindingException CountMismatch(int count)
    {
        string message;
        if (_overloads.Length == 1)
        {
            var o = _overloads[0];
            string takes = o.HasParamsArray ? $"at least {o.Required}"
                : o.Required == o.Total ? $"{o.Total}"
                : $"{o.Required} to {o.Total}";
            message = $"{o.Signature} takes {takes} argument{(takes == "1" ? "" : "s")}, got {count}";
        }
        else
        {
            message = $"no overload of {Name} takes {count} argument{(count == 1 ? "" : "s")}"
                + $" (overloads: {string.Join("; ", _overloads.Select(o => o.Signature))})";
        }
        return new ArgumentBindingException(message, "System.Reflection.TargetParameterCountException");
    }
}
