using System.Reflection;

namespace Bridge;

/// <summary>
/// Names public static .NET methods for a <see cref="ProcessPool"/> to run in .NET worker
/// processes (isolation from the caller: a crash or a leak stays in the worker).
/// </summary>
/// <example>
/// <code>
/// long n = await pool.ApplyAsync&lt;long&gt;(DotNetMethod.Of("Bridge.Samples.Primes.Count"), 0L, 100L);
/// long m = await pool.ApplyAsync&lt;long&gt;(DotNetMethod.Of(Primes.Count), 0L, 100L);
/// </code>
/// </example>
public static class DotNetMethod
{
    /// <summary>A method by name, found by the worker in its own directory (PROTOCOL.md "TASK encodings").</summary>
    /// <param name="name"><c>"Namespace.Type.Method"</c>, optionally with <c>"@/abs/path/Assembly.dll"</c>.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The name is malformed.</exception>
    public static Target Of(string name) => Target.DotNet(name);

    /// <summary>A method by name in a given assembly file.</summary>
    /// <param name="name"><c>"Namespace.Type.Method"</c>.</param>
    /// <param name="assemblyPath">The assembly's path; made absolute.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentNullException">An argument is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The name is malformed.</exception>
    public static Target Of(string name, string assemblyPath)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(assemblyPath);
        return Target.DotNet(name + "@" + Path.GetFullPath(assemblyPath));
    }

    /// <summary>
    /// A public static method given as a delegate (<c>DotNetMethod.Of(Primes.Count)</c>); the worker
    /// loads it from the assembly file the method was loaded from here.
    /// </summary>
    /// <param name="method">A delegate to a public static method of a public type.</param>
    /// <returns>The target.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="method"/> is <see langword="null"/>.</exception>
    /// <exception cref="ArgumentException">The method is not a public static method of a named, non-generic type loaded from a file.</exception>
    public static Target Of(Delegate method)
    {
        ArgumentNullException.ThrowIfNull(method);
        MethodInfo info = method.Method;
        Type? type = info.DeclaringType;
        if (!info.IsStatic || !info.IsPublic || type is null || type.FullName is null || type.IsGenericType || info.IsGenericMethod)
        {
            throw new ArgumentException(
                $"'{info.Name}' is not a public static non-generic method of a named type; a worker process can only run such methods.",
                nameof(method));
        }
        string typeName = type.FullName; // nested types keep their '+', as Assembly.GetType expects
        string location = type.Assembly.Location;
        return location.Length == 0
            ? Target.DotNet($"{typeName}.{info.Name}")
            : Target.DotNet($"{typeName}.{info.Name}@{location}");
    }
}
