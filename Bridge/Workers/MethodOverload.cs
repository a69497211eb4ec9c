using System.Reflection;
using System.Reflection.Emit;
using System.Text;
using Bridge.Values;
using MessagePack;

namespace Bridge.Workers;

/// <summary>
/// One public static method the worker can call: converts a call's MessagePack arguments to its
/// parameter types (<see cref="Bind"/>) and invokes it through a compiled delegate
/// (<see cref="Invoke"/>), awaiting Task/ValueTask results.
/// </summary>
/// <remarks>
/// <para>Parameters: any type of the value table (PROTOCOL.md "Values"), <c>Span&lt;T&gt;</c> and
/// <c>ReadOnlySpan&lt;T&gt;</c> (filled from an array), optional parameters (their defaults fill missing
/// arguments) and a trailing <c>params T[]</c>. Not callable: generic method definitions, ref/out/in
/// and pointer parameters, by-ref-like or pointer results.</para>
/// <para>The invoker is a <see cref="DynamicMethod"/> that unboxes the argument array straight into
/// the call (no reflection per call); exceptions from the method propagate unwrapped.</para>
/// <para>Immutable after construction; used by the worker's single loop thread.</para>
/// </remarks>
internal sealed class MethodOverload
{
    /// <summary>The name of the compiled invoker (its stack frame is hidden from tracebacks).</summary>
    public const string InvokerName = "dotbridge_invoke";

    private enum ReturnKind
    {
        Void,
        Value,
        Task,
        TaskOfT,
    }

    private readonly ParameterInfo[] _parameters;
    private readonly ValueConverter[] _converters;
    private readonly ValueConverter? _paramsElement;
    private readonly Type? _paramsElementType;
    private readonly object?[] _defaults;
    private readonly Func<object?[], object?> _invoker;
    private readonly ReturnKind _returnKind;
    private readonly Func<Task, object?>? _taskResult;

    private MethodOverload(MethodInfo method, string displayName)
    {
        Method = method;
        _parameters = method.GetParameters();
        Total = _parameters.Length;
        HasParamsArray = Total > 0 && _parameters[^1].ParameterType.IsSZArray && _parameters[^1].IsDefined(typeof(ParamArrayAttribute), false);
        Required = 0;
        _defaults = new object?[Total];
        _converters = new ValueConverter[Total];
        for (int i = 0; i < Total; i++)
        {
            var p = _parameters[i];
            _converters[i] = ValueConverter.For(ValueType(p.ParameterType));
            if (p.HasDefaultValue)
            {
                _defaults[i] = DefaultOf(p);
            }
            else if (!(HasParamsArray && i == Total - 1))
            {
                Required = i + 1;
            }
        }
        if (HasParamsArray)
        {
            _paramsElementType = _parameters[^1].ParameterType.GetElementType()!;
            _paramsElement = ValueConverter.For(_paramsElementType);
        }
        Signature = FormatSignature(displayName, _parameters);
        (_invoker, _returnKind) = CompileInvoker(method);
        if (_returnKind == ReturnKind.TaskOfT)
        {
            _taskResult = CompileTaskResult(TaskType(method.ReturnType));
        }
    }

    /// <summary>The method.</summary>
    public MethodInfo Method { get; }

    /// <summary>The method as shown in messages: <c>Bridge.Samples.Primes.Count(long lo, long hi)</c>.</summary>
    public string Signature { get; }

    /// <summary>The number of parameters.</summary>
    public int Total { get; }

    /// <summary>The number of leading parameters without a default (a params array never counts).</summary>
    public int Required { get; }

    /// <summary>Whether the last parameter is a <c>params T[]</c>.</summary>
    public bool HasParamsArray { get; }

    /// <summary>Whether a call with <paramref name="count"/> positional arguments can bind.</summary>
    public bool Accepts(int count) => count >= Required && (count <= Total || HasParamsArray);

    /// <summary>Why the worker cannot call <paramref name="method"/>, or null when it can.</summary>
    public static string? WhyNotCallable(MethodInfo method)
    {
        if (method.ContainsGenericParameters)
        {
            return "it is generic";
        }
        foreach (var p in method.GetParameters())
        {
            if (p.ParameterType.IsByRef || p.ParameterType.IsPointer || p.ParameterType.IsFunctionPointer)
            {
                return $"parameter '{p.Name}' is passed by reference or is a pointer";
            }
            if (p.ParameterType.IsByRefLike && !IsSpan(p.ParameterType, out _))
            {
                return $"parameter '{p.Name}' is a by-ref-like type other than Span<T>/ReadOnlySpan<T>";
            }
        }
        var rt = method.ReturnType;
        if (rt.IsByRef || rt.IsPointer || rt.IsByRefLike || rt.IsFunctionPointer)
        {
            return "its result is a reference, a pointer or a by-ref-like type (return an array instead of a span)";
        }
        return null;
    }

    /// <summary>Builds the overload (compiles its invoker).</summary>
    public static MethodOverload Create(MethodInfo method, string displayName) => new(method, displayName);

    /// <summary>
    /// Reads the <paramref name="count"/> arguments at <paramref name="reader"/> and converts them to
    /// the parameter types. On failure the reader's position is unspecified.
    /// </summary>
    /// <exception cref="ArgumentBindingException">An argument does not convert (the message names the method and the parameter).</exception>
    public object?[] Bind(ref MessagePackReader reader, int count, int maxDepth)
    {
        var args = new object?[Total];
        int direct = HasParamsArray ? Total - 1 : Total;
        int i = 0;
        try
        {
            for (; i < direct && i < count; i++)
            {
                args[i] = _converters[i].ReadBoxed(ref reader, maxDepth);
            }
            for (int j = i; j < direct; j++)
            {
                args[j] = _defaults[j];
            }
            if (HasParamsArray)
            {
                args[^1] = BindParams(ref reader, count, direct, maxDepth, ref i);
            }
        }
        catch (ValueConversionException e)
        {
            var p = _parameters[Math.Min(i, Total - 1)];
            throw new ArgumentBindingException($"{Signature}: argument {i + 1} '{p.Name}': {e.Message}", "Bridge.ValueConversionException", e);
        }
        return args;
    }

    private object BindParams(ref MessagePackReader reader, int count, int direct, int maxDepth, ref int i)
    {
        int extra = count - direct;
        if (extra == 1 && reader.NextMessagePackType is MessagePackType.Array or MessagePackType.Nil
            || extra == 1 && IsArrayExt(reader))
        {
            // One value for the params slot that is itself an array: the array (as C# does).
            return _converters[^1].ReadBoxed(ref reader, maxDepth) ?? Array.CreateInstance(_paramsElementType!, 0);
        }
        var array = Array.CreateInstance(_paramsElementType!, Math.Max(extra, 0));
        for (int k = 0; k < extra; k++, i++)
        {
            array.SetValue(_paramsElement!.ReadBoxed(ref reader, maxDepth), k);
        }
        return array;
    }

    private static bool IsArrayExt(in MessagePackReader reader)
    {
        if (reader.NextMessagePackType != MessagePackType.Extension)
        {
            return false;
        }
        var peek = reader.CreatePeekReader();
        return peek.ReadExtensionFormatHeader().TypeCode == MsgPackValues.ArrayExtType;
    }

    /// <summary>Calls the method and returns its result (null for void; a Task's result once it completed).</summary>
    /// <remarks>Whatever the method throws propagates unchanged (a faulted Task rethrows its exception).</remarks>
    public object? Invoke(object?[] args)
    {
        var result = _invoker(args);
        switch (_returnKind)
        {
            case ReturnKind.Void:
                return null;
            case ReturnKind.Value:
                return result;
            case ReturnKind.Task:
                ((Task)result!).GetAwaiter().GetResult();
                return null;
            default:
                var task = (Task)result!;
                task.GetAwaiter().GetResult();
                return _taskResult!(task);
        }
    }

    /// <summary>The type the codec converts to for a parameter type (a span parameter gets an array).</summary>
    private static Type ValueType(Type parameterType) =>
        IsSpan(parameterType, out var element) ? SpanCarrier(parameterType, element) : parameterType;

    // shm hook: a span parameter is read as Memory<T>/ReadOnlyMemory<T> (an array, or a shared-memory mapping) and passed as its .Span.
    private static Type SpanCarrier(Type spanType, Type element) =>
        (spanType.GetGenericTypeDefinition() == typeof(Span<>) ? typeof(Memory<>) : typeof(ReadOnlyMemory<>)).MakeGenericType(element);

    private static bool IsSpan(Type type, out Type element)
    {
        element = typeof(void);
        if (type.IsGenericType)
        {
            var def = type.GetGenericTypeDefinition();
            if (def == typeof(Span<>) || def == typeof(ReadOnlySpan<>))
            {
                element = type.GetGenericArguments()[0];
                return true;
            }
        }
        return false;
    }

    private static object? DefaultOf(ParameterInfo p)
    {
        var value = p.DefaultValue;
        var type = p.ParameterType;
        if (value is null || value is DBNull || value == Missing.Value)
        {
            return type.IsValueType && Nullable.GetUnderlyingType(type) is null ? Activator.CreateInstance(type) : null;
        }
        if (type.IsEnum && value.GetType() != type)
        {
            return Enum.ToObject(type, value);
        }
        return value;
    }

    private static Type TaskType(Type returnType) =>
        returnType.IsGenericType && returnType.GetGenericTypeDefinition() == typeof(ValueTask<>)
            ? typeof(Task<>).MakeGenericType(returnType.GetGenericArguments()[0])
            : returnType;

    private static (Func<object?[], object?>, ReturnKind) CompileInvoker(MethodInfo method)
    {
        var dm = new DynamicMethod(InvokerName, typeof(object), [typeof(object[])], typeof(MethodOverload).Module, skipVisibility: true);
        var il = dm.GetILGenerator();
        var parameters = method.GetParameters();
        for (int i = 0; i < parameters.Length; i++)
        {
            var pt = parameters[i].ParameterType;
            il.Emit(OpCodes.Ldarg_0);
            il.Emit(OpCodes.Ldc_I4, i);
            il.Emit(OpCodes.Ldelem_Ref);
            if (IsSpan(pt, out var element))
            {
                var carrier = SpanCarrier(pt, element); // shm hook: unbox the Memory<T> and pass its Span
                var local = il.DeclareLocal(carrier);
                il.Emit(OpCodes.Unbox_Any, carrier);
                il.Emit(OpCodes.Stloc, local);
                il.Emit(OpCodes.Ldloca, local);
                il.Emit(OpCodes.Call, carrier.GetProperty("Span")!.GetMethod!);
            }
            else if (pt.IsValueType)
            {
                il.Emit(OpCodes.Unbox_Any, pt);
            }
            else
            {
                il.Emit(OpCodes.Castclass, pt);
            }
        }
        il.Emit(OpCodes.Call, method);
        var rt = method.ReturnType;
        ReturnKind kind;
        if (rt == typeof(void))
        {
            il.Emit(OpCodes.Ldnull);
            kind = ReturnKind.Void;
        }
        else if (rt == typeof(ValueTask) || (rt.IsGenericType && rt.GetGenericTypeDefinition() == typeof(ValueTask<>)))
        {
            var local = il.DeclareLocal(rt);
            il.Emit(OpCodes.Stloc, local);
            il.Emit(OpCodes.Ldloca, local);
            il.Emit(OpCodes.Call, rt.GetMethod(nameof(ValueTask.AsTask), Type.EmptyTypes)!);
            kind = rt == typeof(ValueTask) ? ReturnKind.Task : ReturnKind.TaskOfT;
        }
        else if (rt == typeof(Task))
        {
            kind = ReturnKind.Task;
        }
        else if (rt.IsGenericType && rt.GetGenericTypeDefinition() == typeof(Task<>))
        {
            kind = ReturnKind.TaskOfT;
        }
        else
        {
            if (rt.IsValueType)
            {
                il.Emit(OpCodes.Box, rt);
            }
            kind = ReturnKind.Value;
        }
        il.Emit(OpCodes.Ret);
        return ((Func<object?[], object?>)dm.CreateDelegate(typeof(Func<object?[], object?>)), kind);
    }

    private static Func<Task, object?> CompileTaskResult(Type taskType)
    {
        var resultType = taskType.GetGenericArguments()[0];
        var dm = new DynamicMethod(InvokerName + "_result", typeof(object), [typeof(Task)], typeof(MethodOverload).Module, skipVisibility: true);
        var il = dm.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);
        il.Emit(OpCodes.Castclass, taskType);
        il.Emit(OpCodes.Callvirt, taskType.GetProperty(nameof(Task<int>.Result))!.GetMethod!);
        if (resultType.IsValueType)
        {
            il.Emit(OpCodes.Box, resultType);
        }
        il.Emit(OpCodes.Ret);
        return (Func<Task, object?>)dm.CreateDelegate(typeof(Func<Task, object?>));
    }

    private static string FormatSignature(string displayName, ParameterInfo[] parameters)
    {
        var sb = new StringBuilder(displayName).Append('(');
        for (int i = 0; i < parameters.Length; i++)
        {
            if (i > 0)
            {
                sb.Append(", ");
            }
            var p = parameters[i];
            if (p.IsDefined(typeof(ParamArrayAttribute), false))
            {
                sb.Append("params ");
            }
            sb.Append(CSharpName(p.ParameterType)).Append(' ').Append(p.Name);
            if (p.HasDefaultValue)
            {
                sb.Append(" = ").Append(p.DefaultValue switch
                {
                    null => "null",
                    string s => $"\"{s}\"",
                    bool b => b ? "true" : "false",
                    var v => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture),
                });
            }
        }
        return sb.Append(')').ToString();
    }

    /// <summary>A type as C# writes it: <c>long</c>, <c>double[]</c>, <c>List&lt;string&gt;</c>, <c>int?</c>.</summary>
    public static string CSharpName(Type type)
    {
        if (type.IsArray)
        {
            return CSharpName(type.GetElementType()!) + "[]";
        }
        if (type.IsByRef)
        {
            return "ref " + CSharpName(type.GetElementType()!);
        }
        if (type.IsEnum)
        {
            return type.Name;
        }
        switch (Type.GetTypeCode(type))
        {
            case TypeCode.Boolean: return "bool";
            case TypeCode.SByte: return "sbyte";
            case TypeCode.Byte: return "byte";
            case TypeCode.Int16: return "short";
            case TypeCode.UInt16: return "ushort";
            case TypeCode.Int32: return "int";
            case TypeCode.UInt32: return "uint";
            case TypeCode.Int64: return "long";
            case TypeCode.UInt64: return "ulong";
            case TypeCode.Single: return "float";
            case TypeCode.Double: return "double";
            case TypeCode.Decimal: return "decimal";
            case TypeCode.Char: return "char";
            case TypeCode.String: return "string";
        }
        if (type == typeof(object))
        {
            return "object";
        }
        if (!type.IsGenericType)
        {
            return type.Name;
        }
        var args = type.GetGenericArguments();
        if (type.GetGenericTypeDefinition() == typeof(Nullable<>))
        {
            return CSharpName(args[0]) + "?";
        }
        var name = type.Name;
        int tick = name.IndexOf('`');
        if (tick >= 0)
        {
            name = name[..tick];
        }
        if (name == "ValueTuple")
        {
            return "(" + string.Join(", ", args.Select(CSharpName)) + ")";
        }
        return name + "<" + string.Join(", ", args.Select(CSharpName)) + ">";
    }
}
