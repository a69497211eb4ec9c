namespace Bridge.Samples;

/// <summary>Methods that fail on purpose, to show how .NET exceptions reach the caller.</summary>
public static class Errors
{
    /// <summary>
    /// Throws a new exception of the type named <paramref name="typeName"/> (a full name such as
    /// <c>System.ArgumentException</c>, from a loaded assembly) with <paramref name="message"/>.
    /// </summary>
    /// <exception cref="Exception">Always: an instance of the named type.</exception>
    /// <exception cref="TypeLoadException">The name is not an exception type with a (string) constructor.</exception>
    public static void Throw(string typeName, string message)
    {
        var type = Type.GetType(typeName)
            ?? AppDomain.CurrentDomain.GetAssemblies().Select(a => a.GetType(typeName)).FirstOrDefault(t => t is not null);
        if (type is null || !typeof(Exception).IsAssignableFrom(type) || type.GetConstructor([typeof(string)]) is null)
        {
            throw new TypeLoadException($"no exception type '{typeName}' with a (string message) constructor");
        }
        throw (Exception)Activator.CreateInstance(type, message)!;
    }

    /// <summary>Throws an <see cref="InvalidOperationException"/> whose InnerException is an <see cref="ArgumentException"/> (a cause chain).</summary>
    /// <exception cref="InvalidOperationException">Always.</exception>
    public static void ThrowWithInner(string message, string innerMessage)
    {
        try
        {
            throw new ArgumentException(innerMessage);
        }
        catch (ArgumentException inner)
        {
            throw new InvalidOperationException(message, inner);
        }
    }

    /// <summary>Fails asynchronously: the Task faults with an <see cref="InvalidOperationException"/>.</summary>
    /// <exception cref="InvalidOperationException">Always (through the task).</exception>
    public static async Task<long> ThrowAsync(string message)
    {
        await Task.Yield();
        throw new InvalidOperationException(message);
    }

    /// <summary>Divides, so a zero divisor raises <see cref="DivideByZeroException"/>.</summary>
    /// <exception cref="DivideByZeroException"><paramref name="b"/> is 0.</exception>
    public static long Divide(long a, long b) => a / b;

    /// <summary>Returns a value with no MessagePack form (a <see cref="DateTime"/>): the result cannot be sent.</summary>
    public static DateTime Unencodable() => new(2000, 1, 1, 0, 0, 0, DateTimeKind.Utc);
}
