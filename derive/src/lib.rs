//! `#[derive(Trace)]` and `#[derive(Relocate)]` for [epoch-arena]'s `Trace` and `Relocate`
//! traits.
//!
//! Use this crate through epoch-arena's `derive` feature, which re-exports both derives
//! beside the traits of the same names (`use epoch_arena::{Relocate, Trace};` brings in the
//! trait and its derive at once); the generated code names epoch-arena by its absolute path
//! `::epoch_arena`, so the library must be a dependency of the crate that derives. The
//! runnable examples are in epoch-arena's documentation of `Trace` and `Relocate`.
//!
//! # What the derives generate
//!
//! * `#[derive(Trace)]` implements `Trace::trace` as a call of `Trace::trace` on every field,
//!   in declaration order: for a struct on each field of `self`, for an enum on each field
//!   of the variant `self` is (a `match self`). A unit struct, a unit variant and an enum
//!   without variants hold no keys and report none.
//! * `#[derive(Relocate)]` likewise calls `Relocate::relocate` on every field.
//!
//! Every field's type must implement the trait (a field that does not is a compile error
//! pointing at the field's type), unless the field is skipped.
//!
//! # Skipping a field
//!
//! * `#[trace(skip)]` on a field: the field holds no keys, and *both* derives leave it out.
//!   Its type needs neither trait.
//! * `#[relocate(skip)]` on a field: only `#[derive(Relocate)]` leaves it out (a field that
//!   is traced but not relocated, such as keys of another arena that are relocated with that
//!   arena's remap).
//!
//! The attributes go on fields only, and `skip` is their only argument; anything else
//! (`#[trace(foo)]`, `#[trace]`, `#[trace(skip = true)]`, on a variant or the type itself) is
//! a compile error. The derives reject unions, whose active field is unknown.
//!
//! # Generics
//!
//! Lifetimes, const parameters and the type's own `where` clause are kept as they are. A
//! type parameter gets a `T: Trace` (resp. `T: Relocate`) bound when it is named in the
//! type of a field the derive does not skip, and no bound otherwise: `struct S<T> { a:
//! Vec<T>, #[trace(skip)] b: Vec<T> }` is bounded, `struct S<T> { #[trace(skip)] m:
//! PhantomData<T> }` is not. (The check looks for the parameter's name among the tokens of
//! the field's type, so a path segment of the same name also counts; an extra bound is the
//! only effect.)
//!
//! [epoch-arena]: https://docs.rs/epoch-arena

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, parse_quote, Attribute, Data, DeriveInput, Field, Fields, GenericParam,
    Ident, Member,
};

/// Derives `epoch_arena::Trace`: `trace` calls `Trace::trace` on every field in declaration
/// order (for an enum, on the fields of the variant `self` is).
///
/// A field marked `#[trace(skip)]` holds no keys and is left out; its type need not
/// implement `Trace`. A type parameter named in the type of a field that is not skipped
/// gets a `Trace` bound. Unions are rejected.
///
/// The examples are in epoch-arena's documentation of the `Trace` trait (feature
/// `derive`).
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(input, Derive::Trace)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `epoch_arena::Relocate`: `relocate` calls `Relocate::relocate` on every field in
/// declaration order (for an enum, on the fields of the variant `self` is).
///
/// A field marked `#[trace(skip)]` (holds no keys) or `#[relocate(skip)]` (not relocated
/// with this arena's remap) is left out; its type need not implement `Relocate`. A type
/// parameter named in the type of a field that is not skipped gets a `Relocate` bound.
/// Unions are rejected.
///
/// The examples are in epoch-arena's documentation of the `Trace` and `Relocate` traits
/// (feature `derive`).
#[proc_macro_derive(Relocate, attributes(trace, relocate))]
pub fn derive_relocate(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(input, Derive::Relocate)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Which of the two derives is expanding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Derive {
    Trace,
    Relocate,
}

impl Derive {
    /// The trait's name, for messages.
    fn name(self) -> &'static str {
        match self {
            Derive::Trace => "Trace",
            Derive::Relocate => "Relocate",
        }
    }

    /// The absolute path of the trait.
    fn path(self) -> TokenStream2 {
        match self {
            Derive::Trace => quote!(::epoch_arena::Trace),
            Derive::Relocate => quote!(::epoch_arena::Relocate),
        }
    }

    /// The helper attributes this derive reads: `trace` for both, `relocate` for
    /// `Relocate` only. The other derive's attribute is ignored.
    fn attribute_of(self, attr: &Attribute) -> Option<&'static str> {
        if attr.path().is_ident("trace") {
            Some("trace")
        } else if self == Derive::Relocate && attr.path().is_ident("relocate") {
            Some("relocate")
        } else {
            None
        }
    }

    /// The call of the trait's method on `place` (a reference to a field), spanned at the
    /// field's type so that a missing impl is reported there.
    fn call(self, span: Span, place: TokenStream2) -> TokenStream2 {
        match self {
            Derive::Trace => quote_spanned!(span=> ::epoch_arena::Trace::trace(#place, __tracer);),
            Derive::Relocate => {
                quote_spanned!(span=> ::epoch_arena::Relocate::relocate(#place, __remap);)
            }
        }
    }
}

/// Errors collected while reading the input, reported together.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

/// Reports an error for each of the derive's attributes in `attrs`, which belong to the
/// type or a variant: they are allowed on fields only.
fn reject_attributes(derive: Derive, attrs: &[Attribute], on: &str, errors: &mut Errors) {
    for attr in attrs {
        if let Some(name) = derive.attribute_of(attr) {
            errors.push(syn::Error::new_spanned(
                attr,
                format!("`#[{name}(...)]` is not allowed on {on}; it goes on a field"),
            ));
        }
    }
}

/// Whether the derive leaves `field` out: it has `#[trace(skip)]`, or for `Relocate`
/// `#[relocate(skip)]`. Malformed attributes are reported to `errors` (and skip nothing).
fn is_skipped(derive: Derive, field: &Field, errors: &mut Errors) -> bool {
    let mut skipped = false;
    for attr in &field.attrs {
        let Some(name) = derive.attribute_of(attr) else {
            continue;
        };
        let mut skip = false;
        let mut arguments = 0;
        let parsed = attr.parse_nested_meta(|meta| {
            arguments += 1;
            if !meta.path.is_ident("skip") {
                let path = meta.path.to_token_stream().to_string().replace(' ', "");
                return Err(meta.error(format!(
                    "unknown `{name}` attribute `{path}`; expected `skip`"
                )));
            }
            if !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
                return Err(meta.error(format!("`skip` takes no value; write `#[{name}(skip)]`")));
            }
            if skip {
                return Err(meta.error(format!("duplicate `skip` in `#[{name}(...)]`")));
            }
            skip = true;
            Ok(())
        });
        match parsed {
            Err(error) => errors.push(error),
            Ok(()) if arguments == 0 => errors.push(syn::Error::new_spanned(
                attr,
                format!("empty `#[{name}()]`; expected `#[{name}(skip)]`"),
            )),
            Ok(()) => skipped |= skip,
        }
    }
    skipped
}

/// Sets `found[i]` for each `names[i]` that occurs as an identifier in `tokens`.
fn find_names(tokens: TokenStream2, names: &[Ident], found: &mut [bool]) {
    for token in tokens {
        match token {
            TokenTree::Ident(ident) => {
                for (name, found) in names.iter().zip(found.iter_mut()) {
                    if ident == *name {
                        *found = true;
                    }
                }
            }
            TokenTree::Group(group) => find_names(group.stream(), names, found),
            TokenTree::Punct(_) | TokenTree::Literal(_) => {}
        }
    }
}

/// The fields of one struct or variant that the derive visits, with their places.
struct Visit {
    /// The calls, one per field the derive does not skip, in declaration order.
    calls: Vec<TokenStream2>,
    /// For `Trace`: the `Trace::prefetch` calls on the same fields.
    prefetches: Vec<TokenStream2>,
    /// For an enum variant: the pattern that binds those fields (after `Self::Variant`).
    pattern: TokenStream2,
}

/// The calls for the fields of a struct (`self.field`) or a variant (bindings from a
/// pattern), skipping what the derive skips; the types of the visited fields are collected
/// in `visited_types` for the bounds.
fn visit(
    derive: Derive,
    fields: &Fields,
    in_enum: bool,
    visited_types: &mut Vec<TokenStream2>,
    errors: &mut Errors,
) -> Visit {
    let mut calls = Vec::new();
    let mut prefetches = Vec::new();
    let mut pattern = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let skipped = is_skipped(derive, field, errors);
        // Every token of a call is spanned at the field's type, so that a missing impl is
        // reported there (an argument of tokens from several places would be reported at the
        // derive instead).
        let span = field.ty.span();
        let member = match &field.ident {
            Some(ident) => {
                let mut ident = ident.clone();
                ident.set_span(span);
                Member::Named(ident)
            }
            None => Member::Unnamed(syn::Index {
                index: i as u32,
                span,
            }),
        };
        if skipped {
            if field.ident.is_none() {
                pattern.push(quote!(_));
            }
            continue;
        }
        visited_types.push(field.ty.to_token_stream());
        let place = if in_enum {
            let binding = format_ident!("__field{}", i, span = span);
            pattern.push(match &field.ident {
                Some(ident) => quote!(#ident: #binding),
                None => quote!(#binding),
            });
            quote!(#binding)
        } else {
            match derive {
                Derive::Trace => quote_spanned!(span=> &self.#member),
                Derive::Relocate => quote_spanned!(span=> &mut self.#member),
            }
        };
        if derive == Derive::Trace {
            prefetches.push(quote_spanned!(span=> ::epoch_arena::Trace::prefetch(#place);));
        }
        calls.push(derive.call(span, place));
    }
    let pattern = match fields {
        Fields::Named(_) => quote!({ #(#pattern,)* .. }),
        Fields::Unnamed(_) => quote!((#(#pattern),*)),
        Fields::Unit => quote!(),
    };
    Visit {
        calls,
        prefetches,
        pattern,
    }
}

fn expand(input: DeriveInput, derive: Derive) -> syn::Result<TokenStream2> {
    let mut errors = Errors::default();
    reject_attributes(derive, &input.attrs, "the type", &mut errors);
    let mut visited_types = Vec::new();
    // `prefetch_body` is `Trace::prefetch`'s: the same visit, calling `prefetch`.
    let (body, prefetch_body, visits_a_field) = match &input.data {
        Data::Struct(data) => {
            let visit = visit(derive, &data.fields, false, &mut visited_types, &mut errors);
            let (calls, prefetches) = (visit.calls, visit.prefetches);
            (
                quote!(#(#calls)*),
                quote!(#(#prefetches)*),
                !calls.is_empty(),
            )
        }
        Data::Enum(data) if data.variants.is_empty() => {
            (quote!(match *self {}), quote!(match *self {}), false)
        }
        Data::Enum(data) => {
            let mut arms = Vec::new();
            let mut prefetch_arms = Vec::new();
            let mut any = false;
            for variant in &data.variants {
                reject_attributes(derive, &variant.attrs, "a variant", &mut errors);
                let visit = visit(
                    derive,
                    &variant.fields,
                    true,
                    &mut visited_types,
                    &mut errors,
                );
                let name = &variant.ident;
                let (pattern, calls, prefetches) = (visit.pattern, visit.calls, visit.prefetches);
                any |= !calls.is_empty();
                prefetch_arms.push(quote!(Self::#name #pattern => { #(#prefetches)* }));
                arms.push(quote!(Self::#name #pattern => { #(#calls)* }));
            }
            (
                quote!(match self { #(#arms)* }),
                quote!(match self { #(#prefetch_arms)* }),
                any,
            )
        }
        Data::Union(data) => {
            let union_token = &data.union_token;
            let ident = &input.ident;
            errors.push(syn::Error::new_spanned(
                quote!(#union_token #ident),
                format!(
                    "`{0}` cannot be derived for a union: which field holds the value is not \
                     known; implement `{0}` by hand",
                    derive.name()
                ),
            ));
            (quote!(), quote!(), false)
        }
    };
    errors.finish()?;

    // The bounds: `P: Trait` for each type parameter named in a visited field's type.
    let mut generics = input.generics;
    let params: Vec<Ident> = generics
        .params
        .iter()
        .filter_map(|param| match param {
            GenericParam::Type(param) => Some(param.ident.clone()),
            GenericParam::Lifetime(_) | GenericParam::Const(_) => None,
        })
        .collect();
    let mut bounded = vec![false; params.len()];
    for ty in visited_types {
        find_names(ty, &params, &mut bounded);
    }
    let trait_path = derive.path();
    for (param, bounded) in params.iter().zip(bounded) {
        if bounded {
            generics
                .make_where_clause()
                .predicates
                .push(parse_quote!(#param: #trait_path));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let ident = &input.ident;

    // The parameter is `_` when no field is visited, so that it is not an unused variable.
    Ok(match derive {
        Derive::Trace => {
            let tracer = if visits_a_field {
                quote!(__tracer)
            } else {
                quote!(_)
            };
            quote! {
                #[automatically_derived]
                impl #impl_generics ::epoch_arena::Trace for #ident #ty_generics #where_clause {
                    fn trace(&self, #tracer: &mut ::epoch_arena::Tracer<'_>) {
                        #body
                    }
                    #[inline]
                    fn prefetch(&self) {
                        #prefetch_body
                    }
                }
            }
        }
        Derive::Relocate => {
            let remap = if visits_a_field {
                quote!(__remap)
            } else {
                quote!(_)
            };
            quote! {
                #[automatically_derived]
                impl #impl_generics ::epoch_arena::Relocate for #ident #ty_generics #where_clause {
                    fn relocate(&mut self, #remap: &::epoch_arena::AnyRemap) {
                        #body
                    }
                }
            }
        }
    })
}
