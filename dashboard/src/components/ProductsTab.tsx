import { useCallback, useId, useRef, useState, type FormEvent } from 'react';
import {
  addToCart,
  createProduct,
  deleteProduct,
  getCart,
  getProduct,
  errorMessage,
  listCategories,
  listProductPage,
  newIdempotencyKey,
  updateProduct,
  type ListPage,
  type NewProduct,
  type Position,
  type Product,
} from '../api';
import { useInfiniteQuery, type InfiniteData } from '@tanstack/react-query';
import { queryClient } from '../queryClient';
import { BUSY_RELOAD_MS, useReloadOnFeed } from '../hooks/orderFeed';
import { useAction } from '../hooks/useAction';
import { useDebounced } from '../hooks/useDebounced';
import { useResource } from '../hooks/useResource';
import { currencyCode, formatMoney } from '../money';
import { formatCount, plural } from '../format';
import {
  countProblem,
  isClean,
  isInsufficientStock,
  LIMITS,
  MAX_QUANTITY,
  MAX_STOCK,
  priceProblem,
  problemOnField,
  stockAdvice,
  textProblem,
  type Problems,
} from '../validate';
import {
  ActionButton,
  ErrorMessage,
  focusFirstProblem,
  FormField,
  Loading,
} from './common';
import { useConfirm } from '../feedback/confirm';
import { toast } from '../feedback/toast';
import { useSession } from '../session';

/** Products per page of the grid. */
export const PRODUCTS_PAGE = 60;

/** "12 products", "60 of 1,000,000 products", "60+ products found". */
export function resultCount(
  shown: number,
  total: number | null,
  more: boolean,
  filtered: boolean,
): string {
  if (shown === 0) return 'No product matches.';
  const found = filtered ? ' found' : '';
  if (total !== null && total > shown) {
    return `${formatCount(shown)} of ${plural(total, 'product')}${found}`;
  }
  if (total === null && more) return `${formatCount(shown)}+ products${found}`;
  return `${plural(shown, 'product')}${found}`;
}

type EditField = 'price' | 'stock';
const EDIT_FIELDS: readonly EditField[] = ['price', 'stock'];

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
  const [problems, setProblems] = useState<Problems<EditField>>({});
  const formRef = useRef<HTMLFormElement>(null);
  const priceId = useId();
  const stockId = useId();
  const save = useAction(async () => {
    try {
      return await updateProduct(product.id, {
        price: Number(price.trim()),
        stock: Number(stock.trim()),
      });
    } catch (err) {
      const onField = problemOnField(err, EDIT_FIELDS);
      if (onField) {
        setProblems(onField);
        focusFirstProblem(formRef.current);
        return undefined;
      }
      throw err;
    }
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = {
      price: priceProblem(price),
      stock: countProblem('Stock', stock, 0, MAX_STOCK),
    };
    setProblems(found);
    if (!isClean(found)) {
      focusFirstProblem(formRef.current);
      return;
    }
    const saved = await save.run();
    if (saved) onSaved(saved);
  };
  return (
    <form
      ref={formRef}
      className="edit-product"
      onSubmit={submit}
      noValidate
      aria-label={`Edit ${product.name}`}
    >
      <div className="field-row">
        <FormField id={priceId} label={`Price (${currencyCode()})`} problem={problems.price}>
          {(control) => (
            <input
              {...control}
              inputMode="decimal"
              value={price}
              onChange={(e) => setPrice(e.target.value)}
            />
          )}
        </FormField>
        <FormField id={stockId} label="Stock" problem={problems.stock}>
          {(control) => (
            <input
              {...control}
              inputMode="numeric"
              value={stock}
              onChange={(e) => setStock(e.target.value)}
            />
          )}
        </FormField>
      </div>
      <ErrorMessage>{save.error && `Not saved: ${save.error}`}</ErrorMessage>
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
  onDeleted,
  onOpenCart,
  onSignIn,
}: {
  product: Product;
  /** Whose cart "Add to cart" fills; null when signed out (auth on). */
  userId: string | null;
  onChanged: (product: Product) => void;
  /** After staff deleted it. */
  onDeleted?: (product: Product) => void;
  onOpenCart?: () => void;
  onSignIn?: () => void;
}) {
  const { staff } = useSession();
  const [quantity, setQuantity] = useState('1');
  const [editing, setEditing] = useState(false);
  const remove = useAction(async () => deleteProduct(product.id));
  const [confirmation, ask] = useConfirm();
  const headingId = useId();
  const quantityId = useId();
  const [problem, setProblem] = useState<string | undefined>();
  const add = useAction(async (count: number) => {
    try {
      return await addToCart(userId ?? '', product.id, count);
    } catch (err) {
      if (isInsufficientStock(err)) {
        // Say how many can still be added: the stock now, less what the
        // cart holds already.
        const [now, cart] = await Promise.all([
          getProduct(product.id).catch(() => product),
          getCart(userId ?? '').catch(() => null),
        ]);
        const inCart = cart?.items.find((i) => i.product_id === product.id)?.quantity ?? 0;
        setProblem(`Not added. ${stockAdvice(now.stock, inCart)}`);
        return undefined;
      }
      throw err;
    }
  });
  const outOfStock = product.stock <= 0;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = countProblem('Quantity', quantity, 1, MAX_QUANTITY);
    setProblem(found);
    if (found) return;
    const count = Number(quantity.trim());
    const line = await add.run(count);
    if (line) {
      toast(
        `Added ${count} × ${product.name} to your cart (${plural(line.quantity, 'unit')} in it now).`,
        onOpenCart && { label: 'View cart', onClick: onOpenCart },
      );
    }
  };

  const doDelete = async () => {
    const sure = await ask({
      title: `Delete ${product.name}?`,
      body: 'It leaves the catalog: nobody can buy it any more, and carts that hold it show it as no longer sold. Orders placed keep it.',
      confirm: 'Delete product',
      keep: 'Keep it',
    });
    if (sure && (await remove.run())) {
      toast(`Deleted ${product.name}.`);
      onDeleted?.(product);
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
            toast(`Saved ${p.name}.`);
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
            <FormField
              id={quantityId}
              label="Quantity"
              problem={problem}
              className="field field-quantity"
            >
              {(control) => (
                <input
                  {...control}
                  type="number"
                  min={1}
                  max={Math.max(1, product.stock)}
                  step={1}
                  inputMode="numeric"
                  value={quantity}
                  onChange={(e) => setQuantity(e.target.value)}
                  disabled={outOfStock}
                />
              )}
            </FormField>
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
          <ErrorMessage>{remove.error && `Not deleted: ${remove.error}`}</ErrorMessage>
          {staff && (
            <div className="card-footer">
              <button type="button" className="link-button" onClick={() => setEditing(true)}>
                Edit price and stock
              </button>
              <ActionButton
                className="link-button link-danger"
                pending={remove.pending}
                pendingText="Deleting…"
                ariaLabel={`Delete ${product.name}`}
                onClick={() => void doDelete()}
              >
                Delete
              </ActionButton>
            </div>
          )}
          {confirmation}
        </>
      )}
    </article>
  );
}

const EMPTY_FORM = { name: '', description: '', price: '', stock: '0', category: '' };

type NewField = 'name' | 'description' | 'price' | 'stock' | 'category';
const NEW_FIELDS: readonly NewField[] = ['name', 'description', 'price', 'stock', 'category'];

/** Every problem of the new-product form, by field. */
function newProductProblems(form: typeof EMPTY_FORM): Problems<NewField> {
  return {
    name: textProblem('Name', form.name, LIMITS.name, { required: true }),
    category: textProblem('Category', form.category, LIMITS.category),
    price: priceProblem(form.price),
    stock: form.stock.trim() ? countProblem('Stock', form.stock, 0, MAX_STOCK) : undefined,
    description: textProblem('Description', form.description, LIMITS.description, {
      multiline: true,
    }),
  };
}

export function CreateProductForm({ onCreated }: { onCreated: (product: Product) => void }) {
  const [form, setForm] = useState(EMPTY_FORM);
  const [problems, setProblems] = useState<Problems<NewField>>({});
  const formRef = useRef<HTMLFormElement>(null);
  const ids = {
    name: useId(),
    description: useId(),
    price: useId(),
    stock: useId(),
    category: useId(),
  };
  const create = useAction(async (product: NewProduct) => {
    try {
      return await createProduct(product, newIdempotencyKey());
    } catch (err) {
      const onField = problemOnField(err, NEW_FIELDS);
      if (onField) {
        setProblems(onField);
        focusFirstProblem(formRef.current);
        return undefined;
      }
      throw err;
    }
  });
  const bind = (key: NewField) => ({
    value: form[key],
    onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value })),
  });

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const found = newProductProblems(form);
    setProblems(found);
    if (!isClean(found)) {
      focusFirstProblem(formRef.current);
      return;
    }
    const body: NewProduct = {
      name: form.name,
      price: Number(form.price.trim()),
      // A blank stock is 0, as the catalog would start it.
      stock: form.stock.trim() ? Number(form.stock.trim()) : 0,
    };
    if (form.description.trim()) body.description = form.description;
    if (form.category.trim()) body.category = form.category;
    const product = await create.run(body);
    if (product) {
      setForm(EMPTY_FORM);
      toast(`Created “${product.name}” (#${product.id}).`);
      onCreated(product);
    }
  };

  return (
    <form
      ref={formRef}
      className="panel create-product"
      onSubmit={submit}
      noValidate
      aria-labelledby="create-title"
    >
      <div className="panel-head">
        <h2 id="create-title">New product</h2>
      </div>
      <div className="form-grid">
        <FormField id={ids.name} label="Name" problem={problems.name}>
          {(control) => <input {...control} {...bind('name')} autoComplete="off" />}
        </FormField>
        <FormField id={ids.category} label="Category" problem={problems.category}>
          {(control) => <input {...control} {...bind('category')} autoComplete="off" />}
        </FormField>
        <FormField id={ids.price} label={`Price (${currencyCode()})`} problem={problems.price}>
          {(control) => (
            <input {...control} {...bind('price')} inputMode="decimal" placeholder="0.00" />
          )}
        </FormField>
        <FormField id={ids.stock} label="Stock" problem={problems.stock}>
          {(control) => <input {...control} {...bind('stock')} inputMode="numeric" />}
        </FormField>
        <FormField
          id={ids.description}
          label="Description"
          problem={problems.description}
          className="field field-wide"
        >
          {(control) => <textarea {...control} {...bind('description')} rows={2} />}
        </FormField>
      </div>
      <ErrorMessage>{create.error && `Not created: ${create.error}`}</ErrorMessage>
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

  // Pages of the catalog, fetched as the list grows ("Show more"), each
  // by the previous page's Link cursor.
  const key = ['products', query, category];
  const products = useInfiniteQuery(
    {
      queryKey: key,
      queryFn: ({ pageParam, signal }) =>
        listProductPage({ search: query, category }, pageParam, PRODUCTS_PAGE, signal),
      initialPageParam: null as Position,
      getNextPageParam: (last) => last.next ?? undefined,
    },
    queryClient,
  );
  const { refetch } = products;
  const reload = useCallback(() => void refetch(), [refetch]);
  useReloadOnFeed(reload, BUSY_RELOAD_MS);

  const loadCategories = useCallback((signal: AbortSignal) => listCategories(signal), []);
  const categories = useResource(['categories'], loadCategories);

  const replace = (changed: Product) => {
    queryClient.setQueryData<InfiniteData<ListPage<Product>>>(key, (data) =>
      data && {
        ...data,
        pages: data.pages.map((page) => ({
          ...page,
          rows: page.rows.map((p) => (p.id === changed.id ? changed : p)),
        })),
      },
    );
  };

  const pages = products.data?.pages;
  const list = pages?.flatMap((page) => page.rows) ?? [];
  const total = pages?.[0]?.total ?? null;
  const more = products.hasNextPage;
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
              reload();
              categories.reload(true);
            }}
          />
        )}
      </div>
      <ErrorMessage onRetry={() => categories.reload()}>
        {categories.error && `Could not load the categories: ${categories.error}`}
      </ErrorMessage>
      <ErrorMessage onRetry={reload}>
        {products.isError && `Could not load the products: ${errorMessage(products.error)}`}
      </ErrorMessage>
      {products.isPending ? (
        <Loading>Loading products…</Loading>
      ) : (
        pages && (
          <p className="muted result-count" role="status">
            {resultCount(list.length, total, more, Boolean(query || category))}
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
            onDeleted={() => {
              reload();
              categories.reload(true);
            }}
            onOpenCart={onOpenCart}
            onSignIn={onSignIn}
          />
        ))}
      </div>
      {more && (
        <div className="show-more">
          <ActionButton
            pending={products.isFetchingNextPage}
            pendingText="Loading more…"
            onClick={() => void products.fetchNextPage()}
          >
            Show more products
          </ActionButton>
        </div>
      )}
    </div>
  );
}
