import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import { h, replace } from './dom.js';

export interface VirtualListOptions<T> {
  id: string;
  label: string;
  columns: string[];
  /** Extra class on the list (its column layout). */
  className?: string;
  rowHeight: number;
  /** One row's element (role `row`, cells with role `cell`); positioned by the list. */
  row: (item: T, index: number) => HTMLElement;
  /** Called after a render whose last row in view is `index` (to fetch the next page). */
  onRendered?: (lastIndex: number) => void;
}

export interface VirtualList<T> {
  /** The scrolling table: put it in the page, then call `mount`. */
  readonly element: HTMLElement;
  rows(): readonly T[];
  setRows(rows: T[]): void;
  /** Start observing the element's size and scroll; returns the unmount. */
  mount(): () => void;
}

/**
 * A table that renders only the rows in view (`@tanstack/virtual-core`), so 10,000 rows scroll
 * as smoothly as 10: the tenant list and an upgrade's tenants use it.
 */
export function virtualList<T>(options: VirtualListOptions<T>): VirtualList<T> {
  let rows: T[] = [];
  const body = h('div', { class: 'vlist-body', role: 'rowgroup' });
  const element = h(
    'div',
    {
      class: `vlist${options.className ? ` ${options.className}` : ''}`,
      id: options.id,
      tabindex: 0,
      role: 'table',
      'aria-label': options.label,
      'aria-rowcount': -1,
    },
    h(
      'div',
      { class: 'vlist-row vlist-head', role: 'row' },
      options.columns.map((name) => h('span', { role: 'columnheader' }, name)),
    ),
    body,
  );

  const virtualizer = new Virtualizer<HTMLDivElement, HTMLDivElement>({
    count: 0,
    getScrollElement: () => element,
    estimateSize: () => options.rowHeight,
    scrollToFn: elementScroll,
    observeElementRect,
    observeElementOffset,
    overscan: 8,
    paddingStart: 0,
    onChange: () => render(),
  });

  function render(): void {
    const items = virtualizer.getVirtualItems();
    body.style.height = `${virtualizer.getTotalSize()}px`;
    replace(
      body,
      items.map((item) => {
        const value = rows[item.index];
        if (value === undefined) return null;
        const row = options.row(value, item.index);
        row.setAttribute('aria-rowindex', String(item.index + 2));
        row.style.transform = `translateY(${item.start}px)`;
        return row;
      }),
    );
    const last = items[items.length - 1];
    if (last) options.onRendered?.(last.index);
  }

  return {
    element,
    rows: () => rows,
    setRows(next) {
      rows = next;
      virtualizer.setOptions({ ...virtualizer.options, count: rows.length });
      virtualizer._willUpdate();
      virtualizer.measure();
      render();
    },
    mount: () => virtualizer._didMount(),
  };
}
