import { useCallback, useId, useState, type FormEvent } from 'react';
import {
  addToCart,
  createProduct,
  listAllProducts,
  listProducts,
  newIdempotencyKey,
  updateProduct,
  type NewProduct,
  type Product,
  type ProductUpdate,
} from '../api';
import { useReloadOnFeed } from '../hooks/orderFeed';
import { useAction } from '../hooks/useAction';
import { useDebounced } from '../hooks/useDebounced';
import { useResource } from '../hooks/useResource';
import { formatMoney } from '../money';
import { plural } from '../format';
import { ActionButton, ErrorMessage, Loading, Notice } from './common';
import { useSession } from '../session';

/** A whole number typed in a field, or null. */
function parseCount(text: string): number | null {
  const trimmed = text.trim();
  return /^\d+$/.test(trimmed) ? Number(trimmed) : null;
}

/**
 * What to send for a numeric field: the number when the text reads as one,
 * else the text itself (also when blank). The services validate every field
 * (a price with three decimals, a negative stock, a word, nothing) and their
 * `detail` says what is wrong, so the forms do not second-guess them.
 */
export function fieldValue(text: string): number | string {
  const trimmed = text.trim();
  return /^-?(\d+\.?\d*|\.\d+)$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function EditProductForm({
  product,
  onSaved,
  onClose,
}: {
  product: Product;
  onSaved: (product: Product) => void;
  onClose: () => void;
}) {
  const [price, setPrice] = useState(product.price.toFixed(2));
  const [stock, setStock] = useState(String(product.stock));
  const priceId = useId();
  const stockId = useId();
  const save = useAction(async () => {
    const change = { price: fieldValue(price), stock: fieldValue(stock) };
    return updateProduct(product.id, change as ProductUpdate);
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const saved = await save.run();
    if (saved) onSaved(saved);
  };
  return (
    <form className="edit-product" onSubmit={submit} noValidate aria-label={`Edit ${product.name}`}>
      <div className="field-row">
        <div className="field">
          <label htmlFor={priceId}>Price ($)</label>
          <input
            id={priceId}
            inputMode="decimal"
            value={price}
            onChange={(e) => setPrice(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={stockId}>Stock</label>
          <input
            id={stockId}
            inputMode="numeric"
            value={stock}
            onChange={(e) => setStock(e.target.value)}
          />
        </div>
      </div>
      <ErrorMessage>{save.error}</ErrorMessage>
      <div className="actions">
        <ActionButton type="submit" pending={save.pending} pendingText="Saving…">
          Save
        </ActionButton>
        <button type="button" className="button button-secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function ProductCard({
  product,
  userId,
  onChanged,
  onOpenCart,
  onSignIn,
}: {
  product: Product;
  /** Whose cart "Add to cart" fills; null when signed out (auth on). */
  userId: string | null;
  onChanged: (product: Product) => void;
  onOpenCart?: () => void;
  onSignIn?: () => void;
}) {
  const { staff } = useSession();
  const [quantity, setQuantity] = useState('1');
  const [added, setAdded] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const headingId = useId();
  const quantityId = useId();
  const add = useAction(async (count: number) => addToCart(userId ?? '', product.id, count));
  const outOfStock = product.stock <= 0;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setAdded(null);
    const count = parseCount(quantity);
    // The cart service checks the quantity; a blank or bad entry is sent as
    // 0 so its message explains what is allowed.
    const line = await add.run(count ?? 0);
    if (line) {
      setAdded(`Added ${count} to your cart (${plural(line.quantity, 'unit')} in it now).`);
    }
  };

  return (
    <article className="card product" aria-labelledby={headingId}>
      <div className="product-head">
        <h2 id={headingId}>{product.name}</h2>
        {product.category && <span className="chip">{product.category}</span>}
      </div>
      {product.description && <p className="product-description">{product.description}</p>}
      <div className="product-facts">
        <span className="price">{formatMoney(product.price)}</span>
        <span className={outOfStock ? 'stock stock-out' : 'stock'} data-testid="stock">
          {outOfStock ? 'Out of stock' : `${product.stock} in stock`}
        </span>
      </div>
      {editing ? (
        <EditProductForm
          product={product}
          onClose={() => setEditing(false)}
          onSaved={(p) => {
            setEditing(false);
            setSaved('Saved.');
            onChanged(p);
          }}
        />
      ) : userId === null ? (
        <p className="muted sign-in-to-buy">
          <button type="button" className="link-button" onClick={onSignIn}>
            Sign in
          </button>{' '}
          to buy {product.name}.
        </p>
      ) : (
        <>
          <form className="add-to-cart" onSubmit={submit} noValidate>
            <div className="field field-quantity">
              <label htmlFor={quantityId}>Quantity</label>
              <input
                id={quantityId}
                type="number"
                min={1}
                max={Math.max(1, product.stock)}
                step={1}
                inputMode="numeric"
                value={quantity}
                onChange={(e) => setQuantity(e.target.value)}
                disabled={outOfStock}
              />
            </div>
            <ActionButton
              type="submit"
              pending={add.pending}
              pendingText="Adding…"
              disabled={outOfStock}
            >
              Add to cart
            </ActionButton>
          </form>
          <ErrorMessage>{add.error}</ErrorMessage>
          {added && (
            <p className="message message-ok" role="status">
              {added}{' '}
              {onOpenCart && (
                <button type="button" className="link-button" onClick={onOpenCart}>
                  View cart
                </button>
              )}
            </p>
          )}
          <Notice>{saved}</Notice>
          {staff && (
            <div className="card-footer">
              <button
                type="button"
                className="link-button"
                onClick={() => {
                  setSaved(null);
                  setEditing(true);
                }}
              >
                Edit price and stock
              </button>
            </div>
          )}
        </>
      )}
    </article>
  );
}

const EMPTY_FORM = { name: '', description: '', price: '', stock: '0', category: '' };

export function CreateProductForm({ onCreated }: { onCreated: (product: Product) => void }) {
  const [form, setForm] = useState(EMPTY_FORM);
  const [created, setCreated] = useState<string | null>(null);
  const ids = {
    name: useId(),
    description: useId(),
    price: useId(),
    stock: useId(),
    category: useId(),
  };
  const create = useAction(async (product: NewProduct) =>
    createProduct(product, newIdempotencyKey()),
  );
  const field = (key: keyof typeof EMPTY_FORM) => ({
    id: ids[key],
    value: form[key],
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value })),
  });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setCreated(null);
    // Fields are sent as typed (numbers when they read as numbers): the
    // catalog validates them and its `detail` says what is wrong.
    const body: Record<string, unknown> = {
      name: form.name,
      price: fieldValue(form.price),
    };
    // A blank stock is left out: the catalog starts it at 0.
    if (form.stock.trim()) body.stock = fieldValue(form.stock);
    if (form.description.trim()) body.description = form.description;
    if (form.category.trim()) body.category = form.category;
    const product = await create.run(body as unknown as NewProduct);
    if (product) {
      setForm(EMPTY_FORM);
      setCreated(`Created “${product.name}” (#${product.id}).`);
      onCreated(product);
    }
  };

  return (
    <form className="panel create-product" onSubmit={submit} noValidate aria-labelledby="create-title">
      <div className="panel-head">
        <h2 id="create-title">New product</h2>
      </div>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={ids.name}>Name</label>
          <input {...field('name')} autoComplete="off" />
        </div>
        <div className="field">
          <label htmlFor={ids.category}>Category</label>
          <input {...field('category')} autoComplete="off" />
        </div>
        <div className="field">
          <label htmlFor={ids.price}>Price ($)</label>
          <input {...field('price')} inputMode="decimal" placeholder="0.00" />
        </div>
        <div className="field">
          <label htmlFor={ids.stock}>Stock</label>
          <input {...field('stock')} inputMode="numeric" />
        </div>
        <div className="field field-wide">
          <label htmlFor={ids.description}>Description</label>
          <textarea {...field('description')} rows={2} />
        </div>
      </div>
      <ErrorMessage>{create.error && `Not created: ${create.error}`}</ErrorMessage>
      <Notice>{created}</Notice>
      <div className="actions">
        <ActionButton type="submit" pending={create.pending} pendingText="Creating…">
          Create product
        </ActionButton>
      </div>
    </form>
  );
}

export function ProductsTab({
  userId,
  onOpenCart,
  onSignIn,
}: {
  userId: string | null;
  onOpenCart?: () => void;
  onSignIn?: () => void;
}) {
  const { staff } = useSession();
  const [search, setSearch] = useState('');
  const [category, setCategory] = useState('');
  const [showCreate, setShowCreate] = useState(false);
  const query = useDebounced(search.trim(), 250);
  const searchId = useId();
  const categoryId = useId();

  const loadProducts = useCallback(
    (signal: AbortSignal) => listProducts({ search: query, category, limit: 1000 }, signal),
    [query, category],
  );
  const products = useResource(loadProducts, `${query}\u0000${category}`);
  useReloadOnFeed(products.reload);

  const loadCategories = useCallback(async (signal: AbortSignal) => {
    const all = await listAllProducts({}, signal);
    const names = new Set<string>();
    for (const p of all) if (p.category) names.add(p.category);
    return [...names].sort((a, b) => a.localeCompare(b));
  }, []);
  const categories = useResource(loadCategories, 'categories');

  const replace = (changed: Product) => {
    if (products.data) products.set(products.data.map((p) => (p.id === changed.id ? changed : p)));
  };

  const list = products.data ?? [];
  return (
    <div className="products">
      <div className="toolbar">
        <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
          <div className="field">
            <label htmlFor={searchId}>Search</label>
            <input
              id={searchId}
              type="search"
              value={search}
              placeholder="Name or description"
              onChange={(e) => setSearch(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor={categoryId}>Category</label>
            <select id={categoryId} value={category} onChange={(e) => setCategory(e.target.value)}>
              <option value="">All categories</option>
              {(categories.data ?? []).map((c) => (
                <option key={c} value={c}>
                  {c}
                </option>
              ))}
            </select>
          </div>
        </form>
        {staff && (
          <button
            type="button"
            className="button"
            aria-expanded={showCreate}
            aria-controls="create-product"
            onClick={() => setShowCreate((v) => !v)}
          >
            {showCreate ? 'Close new product' : 'New product'}
          </button>
        )}
      </div>
      <div id="create-product" hidden={!showCreate}>
        {staff && showCreate && (
          <CreateProductForm
            onCreated={() => {
              products.reload(true);
              categories.reload(true);
            }}
          />
        )}
      </div>
      <ErrorMessage>{categories.error && `Could not load the categories: ${categories.error}`}</ErrorMessage>
      <ErrorMessage>{products.error && `Could not load the products: ${products.error}`}</ErrorMessage>
      {products.loading ? (
        <Loading>Loading products…</Loading>
      ) : (
        products.data && (
          <p className="muted result-count" role="status">
            {list.length === 0
              ? 'No product matches.'
              : `${plural(list.length, 'product')}${query || category ? ' found' : ''}`}
          </p>
        )
      )}
      <div className="product-grid">
        {list.map((product) => (
          <ProductCard
            key={product.id}
            product={product}
            userId={userId}
            onChanged={replace}
            onOpenCart={onOpenCart}
            onSignIn={onSignIn}
          />
        ))}
      </div>
    </div>
  );
}
